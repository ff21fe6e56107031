"""The monthly report as a Word document, ready to paste into the briefing papers.

Its figures come from the digest's own queries (storage.digests.collect) over the calendar
month in the organisation's time zone, so the report and the monthly digest always agree.
No reporter is ever named in it: it carries codes, categories, units and counts only.
"""

from __future__ import annotations

import asyncio
import io
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal, format_percent

from handlers.forms import Catalog
from handlers.i18n import Translator
from handlers.org import HOST_KINDS
from handlers.polldefs import QuestionType, pick
from handlers.status import status_label
from reports.context import ReportContext, ReportSettings
from reports.digest import category_label, kind_label, plot_daily, still_overdue
from reports.periods import month_label
from reports.polls import published
from reports.scoreboard import (
    DEPARTMENT_HEAD,
    UNIT_HEAD,
    Scoreboard,
    attention_rows,
    collect_scoreboard,
    department_rows,
)
from reports.suppression import DEFAULT_MIN_GROUP_SIZE, merged_note, published_digest
from reports.topics import Theme, month_themes
from storage.db import Session
from storage.digests import DigestData, collect
from storage.pollresults import compliance, round_results, rounds_between, unit_host_kinds


class MonthError(ValueError):
    """A month that is not YYYY-MM."""


def parse_month(text: str) -> date:
    """`2026-11` -> 1 November 2026."""
    try:
        year, month = (int(part) for part in text.strip().split("-"))
        return date(year, month, 1)
    except ValueError:
        raise MonthError(f"--month must look like 2026-11, not {text!r}") from None


def month_bounds(first: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Local midnight of the month's first day and of the next month's first day."""
    after = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    # In UTC: SQLite compares stored UTC wall times and would read local bounds as UTC.
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    return start, datetime.combine(after, datetime.min.time(), tzinfo=tz).astimezone(UTC)


# -- the poll and situation-report sections, from the result functions the leaders' chat
# messages use ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PollHighlight:
    title: str
    responses: int
    invited: int
    top_answer: str  # the most chosen answer, as its label


@dataclass(frozen=True)
class SitrepCompliance:
    host_kind: str  # one of handlers.org.HOST_KINDS
    due: int
    on_time: int
    late: int


async def poll_highlights(
    session: Session,
    since: datetime,
    until: datetime,
    locale: str = "vi",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> list[PollHighlight]:
    """Poll rounds that closed in [since, until), with their response rates and the most
    chosen answer of their first choice question, as the poll's results publish it (an
    anonymous poll's small groups withheld)."""
    out = []
    for rnd in await rounds_between(session, "poll", "closes_at", since, until):
        assert rnd.id is not None
        results = await round_results(session, rnd.id, min_group_size)
        top = ""
        for q in results.questions:
            question = results.definition.question(q.id)
            if question is None or q.type not in (QuestionType.SINGLE, QuestionType.MULTI):
                continue
            show = published(q, results)
            if q.counts and not show.withheld:
                value, n = Counter(q.counts).most_common(1)[0]
                option = question.option(value)
                label = pick(option.text, locale) if option else value
                figure = (show.figures or {}).get(value)
                count = figure.shown(min_group_size) if figure and figure.withheld else str(n)
                top = f"{pick(question.text, locale)}: {label} ({count})"
            break
        out.append(
            PollHighlight(
                pick(results.definition.title, locale), results.responded, results.invited, top
            )
        )
    return out


async def sitrep_compliance(
    session: Session, since: datetime, until: datetime
) -> list[SitrepCompliance]:
    """Situation reports due in [since, until), per kind of unit."""
    kinds = await unit_host_kinds(session)
    table: dict[str, list[int]] = {}
    for rnd in await rounds_between(session, "sitrep", "due_at", since, until):
        assert rnd.id is not None
        for unit in (await compliance(session, rnd.id)).units:
            row = table.setdefault(kinds.get(unit.code, ""), [0, 0, 0])
            row[0] += 1
            row[1] += unit.status == "on_time"
            row[2] += unit.status == "late"
    return [SitrepCompliance(kind, *counts) for kind, counts in sorted(table.items())]


@dataclass
class MonthlyData:
    first: date
    digest: DigestData
    polls: list[PollHighlight] = field(default_factory=list)
    sitreps: list[SitrepCompliance] = field(default_factory=list)
    report_themes: list[Theme] = field(default_factory=list)
    answer_themes: list[Theme] = field(default_factory=list)
    scoreboard: Scoreboard | None = None


async def collect_month(
    session: Session,
    first: date,
    tz: ZoneInfo,
    locale: str = "vi",
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> MonthlyData:
    since, until = month_bounds(first, tz)
    days = (until.astimezone(tz).date() - since.astimezone(tz).date()).days
    # Suppressed as the monthly digest is, so the document and the digest agree cell by cell.
    raw = await collect(session, since, until, tz, chart_days=days)
    raw.newly_overdue = await still_overdue(session, raw.newly_overdue, until)  # the SLA pause
    digest = published_digest(raw, min_group_size)
    data = MonthlyData(
        first,
        digest,
        await poll_highlights(session, since, until, locale, min_group_size),
        await sitrep_compliance(session, since, until),
        *await month_themes(session, since, until, max(2, min_group_size)),
    )
    data.scoreboard = await collect_scoreboard(session, since, until, tz, min_group_size)
    return data


async def build_monthly_report(
    ctx: ReportContext, month: str | date, lang: str | None = None
) -> bytes:
    """The DOCX of one calendar month (`2026-11` or a date in it), in `lang` (vi by default)."""
    first = parse_month(month) if isinstance(month, str) else month.replace(day=1)
    t = ctx.translations(lang)
    async with ctx.sessions() as session:
        data = await collect_month(
            session, first, ctx.settings.tz, t.locale, ctx.settings.min_group_size
        )
    head = Letterhead.of(ctx.settings)
    return await asyncio.to_thread(render_docx, t, ctx.catalog, data, ctx.settings.tz, head)


FONT = "Times New Roman"  # full Vietnamese coverage; what Vietnamese official papers use


@dataclass(frozen=True)
class Letterhead:
    """Who issues the report, as its header names them (settings COMMITTEE_*)."""

    parent: str = "ĐẢNG BỘ TỈNH …"
    committee: str = "ĐẢNG ỦY KHỐI CÁC CƠ QUAN VÀ DOANH NGHIỆP TỈNH"
    short: str = "ĐUK"  # the "-BC/ĐUK" of the number
    place: str = "…"

    @classmethod
    def of(cls, settings: ReportSettings) -> Letterhead:
        named = {
            "parent": settings.committee_parent,
            "committee": settings.committee_name,
            "short": settings.committee_short,
            "place": settings.committee_place,
        }
        return cls(**{k: v for k, v in named.items() if v})  # unset: the placeholders above


def _page_setup(doc: Any, t: Translator) -> None:
    """A4 with the margins of Hướng dẫn 36-HD/VPTW (top and bottom 20 mm, left 30, right 15),
    page numbers at the foot, and one font everywhere: theme fonts are replaced, so no heading
    or table falls back to Calibri."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt, RGBColor

    for section in doc.sections:
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.top_margin = section.bottom_margin = Mm(20)
        section.left_margin, section.right_margin = Mm(30), Mm(15)
        footer = section.footer.paragraphs[0]
        footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
        field = OxmlElement("w:fldSimple")
        field.set(qn("w:instr"), "PAGE")
        footer._p.append(field)
    styles = doc.styles.element
    for fonts in styles.iter(qn("w:rFonts")):
        for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
            fonts.attrib.pop(qn(f"w:{attr}"), None)
        for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
            fonts.set(qn(f"w:{attr}"), FONT)
    doc.styles["Normal"].font.size = Pt(14)
    for name in ("Title", "Heading 1"):
        doc.styles[name].font.color.rgb = RGBColor(0, 0, 0)
    title = doc.styles["Title"]
    title.font.all_caps, title.font.bold, title.font.size = True, True, Pt(15)
    title.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.space_before = Pt(18)
    # Word's Title has a blue rule under it, which a committee's report does not.
    for rule in title.element.iter(qn("w:pBdr")):
        rule.getparent().remove(rule)


def _letterhead(doc: Any, t: Translator, head: Letterhead, made: date) -> None:
    """The two-column header of a Party committee's document (Hướng dẫn 36-HD/VPTW): the
    higher committee and the issuing one, "*", and the number on the left; the Party's name,
    then the place and date line on the right. The number is left blank for the office to fill
    in when it registers the report."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt

    table = doc.add_table(rows=1, cols=2)
    left, right = table.rows[0].cells
    left.width, right.width = Mm(75), Mm(90)
    lines = [
        (left, head.parent, {}),
        (left, head.committee, {"bold": True}),
        (left, "*", {}),
        (left, t("No. {number}", number=f"      -BC/{head.short}"), {}),
        (right, t("COMMUNIST PARTY OF VIETNAM"), {"bold": True, "underline": True}),
        (right, _dated(t, head.place, made), {"italic": True}),
    ]
    for cell, text, look in lines:
        paragraph = cell.paragraphs[0] if not cell.paragraphs[0].text else cell.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = paragraph.add_run(text)
        run.font.size = Pt(13 if cell is left else 14)
        for attr, value in look.items():
            setattr(run.font, attr, value)


def _dated(t: Translator, place: str, made: date) -> str:
    day, month, year = f"{made:%d}", f"{made:%m}", f"{made:%Y}"
    return t("{place}, {day}/{month}/{year}", place=place, day=day, month=month, year=year)


# -- the document ----------------------------------------------------------------------------------
def _number(t: Translator, value: float, digits: int = 1) -> str:
    return format_decimal(value, format="#,##0." + "0" * digits, locale=t.locale)


def _share(t: Translator, part: int, whole: int) -> str:
    return format_percent(part / whole if whole else 0, format="#,##0.0%", locale=t.locale)


def render_docx(
    t: Translator,
    catalog: Catalog,
    data: MonthlyData,
    tz: ZoneInfo,
    head: Letterhead = Letterhead(),
) -> bytes:
    from docx import Document

    d = data.digest
    doc = Document()
    _page_setup(doc, t)
    _letterhead(doc, t, head, datetime.now(tz).date())
    doc.add_heading(t("Monthly report {month}", month=month_label(t, data.first)), level=0)
    last_day = d.until.astimezone(tz).date() - timedelta(days=1)
    doc.add_paragraph(
        t(
            "Period: {since} to {until}. Reports, cases and figures as recorded by Grassroots.",
            since=f"{d.since.astimezone(tz):%d/%m/%Y}",
            until=f"{last_day:%d/%m/%Y}",
        )
    )
    _totals(doc, t, d)
    _breakdowns(doc, t, catalog, d)
    _cases(doc, t, catalog, d)
    if data.scoreboard is not None:
        _scoreboard(doc, t, data.scoreboard)
    _polls(doc, t, data)
    _themes(doc, t, data)
    _charts(doc, t, catalog, d)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _category(t: Translator, catalog: Catalog, code: str) -> str:
    return category_label(t, catalog, code)


def _totals(doc: Any, t: Translator, d: DigestData) -> None:
    def hours(value: float | None) -> str:
        return t("{hours} h", hours=_number(t, value)) if value is not None else "—"

    doc.add_heading(t("Totals"), level=1)
    _table(
        doc,
        [t("Figure"), t("Value")],
        [
            [t("Reports received"), str(d.total)],
            [t("of which hot"), str(d.by_urgency.get("hot", 0))],
            [t("Resolved during the month"), str(d.resolved)],
            [t("Open now"), str(d.open_now)],
            [t("Median time to acknowledge"), hours(d.median_ack_hours)],
            [t("Median time to resolve"), hours(d.median_resolve_hours)],
        ],
    )


def _breakdowns(doc: Any, t: Translator, catalog: Catalog, d: DigestData) -> None:
    doc.add_heading(t("By category"), level=1)
    _table_or_note(
        doc,
        t,
        [t("Category"), t("Reports"), t("Share")],
        [[_category(t, catalog, c), str(n), _share(t, n, d.total)] for c, n in d.by_category],
    )
    doc.add_heading(t("By kind of unit"), level=1)
    _table_or_note(
        doc,
        t,
        [t("Kind of unit"), t("Reports"), t("Share")],
        [[kind_label(t, k), str(n), _share(t, n, d.total)] for k, n in d.by_host_kind],
    )
    if note := merged_note(t, d):
        doc.add_paragraph(note)


def _cases(doc: Any, t: Translator, catalog: Catalog, d: DigestData) -> None:
    """Hot issues and the cases that fell overdue."""
    doc.add_heading(t("Hot issues"), level=1)
    _table_or_note(
        doc,
        t,
        [t("Code"), t("Category"), t("Unit"), t("Status")],
        [
            [code, _category(t, catalog, cat), unit, status_label(t, s)]
            for code, cat, unit, s in d.hot
        ],
    )
    hot_total = d.by_urgency.get("hot", 0)
    if hot_total > len(d.hot):
        doc.add_paragraph(
            t("The first {shown} of {total} are listed.", shown=len(d.hot), total=hot_total)
        )
    doc.add_heading(t("Overdue cases"), level=1)
    doc.add_paragraph(t("Cases that fell due during the month and are still open."))
    _table_or_note(
        doc, t, [t("Code"), t("Handled by")], [[code, dept] for code, dept in d.newly_overdue]
    )


def _scoreboard(doc: Any, t: Translator, board: Scoreboard) -> None:
    """Who is on time: the departments, then the units that need attention, against the
    previous month; the quiet units are counted in one line."""
    doc.add_heading(t("Who is on time"), level=1)
    doc.add_paragraph(
        t(
            "Against the previous month. The clock pauses while a case waits for the reporter. "
            "Fewer than 3 cases are shown as counts, not rates."
        )
    )
    _table_or_note(doc, t, [t(h) for h in DEPARTMENT_HEAD], department_rows(t, board))
    doc.add_heading(t("Units: reports, situation reports and polls"), level=1)
    rows, quiet = attention_rows(t, board)
    _table_or_note(doc, t, [t(h) for h in UNIT_HEAD], rows)
    if quiet:
        doc.add_paragraph(quiet)


def _polls(doc: Any, t: Translator, data: MonthlyData) -> None:
    doc.add_heading(t("Poll highlights"), level=1)
    _table_or_note(
        doc,
        t,
        [t("Poll"), t("Answers"), t("Response rate"), t("Most chosen answer")],
        [
            [p.title, str(p.responses), _share(t, p.responses, p.invited), p.top_answer]
            for p in data.polls
        ],
        empty=t("No poll results for this month."),
    )
    doc.add_heading(t("Situation-report compliance"), level=1)
    _table_or_note(
        doc,
        t,
        [t("Kind of unit"), t("Reports due"), t("Filed on time"), t("Filed late"), t("Compliance")],
        [
            [
                t(HOST_KINDS.get(s.host_kind, s.host_kind)),
                str(s.due),
                str(s.on_time),
                str(s.late),
                _share(t, s.on_time, s.due),
            ]
            for s in data.sitreps
        ],
        empty=t("No situation reports were due this month."),
    )


def _themes(doc: Any, t: Translator, data: MonthlyData) -> None:
    """What the month's reports and free-text answers were mostly about, with counts."""
    doc.add_heading(t("Main themes"), level=1)
    rows = [[th.name, t("Reports"), str(th.count)] for th in data.report_themes]
    rows += [
        [th.name, t("Poll and situation-report answers"), str(th.count)]
        for th in data.answer_themes
    ]
    _table_or_note(
        doc,
        t,
        [t("Theme"), t("From"), t("Count")],
        rows,
        empty=t("No theme was raised more than once this month."),
    )


def _charts(doc: Any, t: Translator, catalog: Catalog, d: DigestData) -> None:
    from docx.shared import Cm

    doc.add_heading(t("Charts"), level=1)
    daily = io.BytesIO()
    plot_daily(t, catalog, d, daily)
    doc.add_picture(daily, width=Cm(16))
    breakdown = io.BytesIO()
    draw_breakdown(t, catalog, d, breakdown)
    doc.add_picture(breakdown, width=Cm(16))


def _table(doc: Any, head: list[str], rows: list[list[str]]) -> None:
    table = doc.add_table(rows=1, cols=len(head))
    table.style = "Table Grid"  # plain black rules, as official papers print them
    for cell, text in zip(table.rows[0].cells, head, strict=True):
        cell.paragraphs[0].add_run(text).bold = True
        cell.paragraphs[0].paragraph_format.keep_with_next = True  # never alone at a page's foot
    _keep_whole(table.rows[0], "w:tblHeader")
    for row in rows:
        added = table.add_row()
        _keep_whole(added)
        for cell, text in zip(added.cells, row, strict=True):
            cell.text = text


def _keep_whole(row: Any, *more: str) -> None:
    """A row never splits across two pages (w:cantSplit); the head row (w:tblHeader) is printed
    again at the top of each page the table runs onto."""
    from docx.oxml import OxmlElement

    properties = row._tr.get_or_add_trPr()
    for tag in ("w:cantSplit", *more):
        properties.append(OxmlElement(tag))


def _table_or_note(
    doc: Any, t: Translator, head: list[str], rows: list[list[str]], empty: str | None = None
) -> None:
    if rows:
        _table(doc, head, rows)
    else:
        doc.add_paragraph(empty or t("None this month."))


def draw_breakdown(t: Translator, catalog: Catalog, data: DigestData, target: Any) -> None:
    """A PNG of two horizontal bar charts: reports by category and by kind of unit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), dpi=100)

    def wrapped(label: str) -> str:  # long names on two lines, so the text stays readable
        return textwrap.fill(label, 30)

    cats = list(reversed(data.by_category))
    top.barh(
        [wrapped(category_label(t, catalog, code)) for code, _ in cats],
        [n for _, n in cats],
        color="#a50f15",
    )
    top.set_title(t("Reports by category"))
    kinds = list(reversed(data.by_host_kind))
    bottom.barh([wrapped(kind_label(t, k)) for k, _ in kinds], [n for _, n in kinds], color="#555")
    bottom.set_title(t("Reports by kind of unit"))
    for axis in (top, bottom):
        axis.tick_params(axis="y", labelsize=10)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(target, format="png")
    plt.close(fig)
