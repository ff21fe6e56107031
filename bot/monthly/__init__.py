"""The monthly report for the briefing papers, as a Word document."""

from bot.monthly.report import build_monthly_report

__all__ = ["build_monthly_report"]
