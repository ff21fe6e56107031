"""The public feedback page: anyone may send feedback without an account and follow it with a
code and a secret. Submissions become cases exactly like chat reports."""

from bot.feedback.pages import FeedbackPage

__all__ = ["FeedbackPage"]
