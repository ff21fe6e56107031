"""Poll results and situation-report compliance as text and a chart, for the leaders' chats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from handlers.i18n import Translator
from handlers.polldefs import PollDef, QuestionType, pick
from reports.suppression import Figure, anonymous, mask_small
from reports.topics import Theme, themes_of
from storage.db import Session
from storage.pollresults import (
    Compliance,
    QuestionResult,
    RoundResults,
    compliance,
    response_rate,
)
from storage.polls import open_rounds_by_closing

LOWEST_UNITS = 5


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"


@dataclass(frozen=True)
class Published:
    """What of one question's answers may be published. Named polls: everything. Anonymous
    polls (reports.suppression): nothing under k answers; options and scale points under k
    withheld as `< k` (and their complements); a scale whose points cannot all be shown is
    published as its mean only, since the mean would let the withheld points be solved."""

    withheld: bool = False
    figures: dict[str, Figure] | None = None  # option value or scale point -> its figure
    distribution: bool = True  # scale questions: the 1-5 line


def published(q: QuestionResult, results: RoundResults) -> Published:
    k = results.min_group_size
    if not results.definition.anonymous:
        return Published()
    if q.answered < k or results.responded < k:
        return Published(withheld=True)
    question = results.definition.question(q.id)
    assert question is not None
    if q.type in (QuestionType.SINGLE, QuestionType.MULTI):
        keys = [o.value for o in question.options]
    elif q.type == QuestionType.SCALE:
        keys = [str(n) for n in range(1, 6)]
    else:
        return Published()
    # A single choice's counts add up to the answers, which are published; several choices not.
    masked = mask_small(
        anonymous((key, q.counts.get(key, 0)) for key in keys), k, q.type != QuestionType.MULTI
    )
    if q.type == QuestionType.SCALE:
        return Published(distribution=not masked.any_withheld)
    if not masked.total_ok:
        return Published(withheld=True)
    return Published(figures={f.key: f for f in masked.figures})


def _count(show: Published, key: str, n: int, answered: int, k: int) -> str:
    figure = show.figures.get(key) if show.figures else None
    if figure is not None and figure.withheld:
        return figure.shown(k)
    return f"{n} ({_pct(n, answered)})"


def _question_lines(t: Translator, q: QuestionResult, results: RoundResults) -> list[str]:
    defn = results.definition
    question = defn.question(q.id)
    assert question is not None
    k = results.min_group_size
    lines = [f"▸ {pick(q.text, t.locale)}"]
    if q.answered == 0:
        return [*lines, "  " + t("No answers.")]
    show = published(q, results)
    if show.withheld:
        return [
            *lines,
            "  " + t("Fewer than {count} answers to show without singling anyone out.", count=k),
        ]
    if q.type in (QuestionType.SINGLE, QuestionType.MULTI):
        for o in question.options:
            n = q.counts.get(o.value, 0)
            lines.append(f"  • {pick(o.text, t.locale)}: {_count(show, o.value, n, q.answered, k)}")
    elif q.type in (QuestionType.SCALE, QuestionType.NUMBER):
        assert q.mean is not None
        lines.append(
            "  " + t("Mean {mean} from {count} answers", mean=f"{q.mean:.2f}", count=q.answered)
        )
        if q.type == QuestionType.SCALE and show.distribution:
            lines.append("  " + " · ".join(f"{n}: {q.counts.get(str(n), 0)}" for n in range(1, 6)))
    else:
        lines.append(
            "  " + t("Answers: {count}. The first {shown}:", count=q.answered, shown=len(q.texts))
        )
        lines += [f"  – {_short(text)}" for text in q.texts]
        lines += theme_lines(t, themes_of(q.all_texts, max(2, k)))
    return lines


def _short(text: str, limit: int = 200) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def render_results(t: Translator, results: RoundResults, tz: ZoneInfo, closed: datetime) -> str:
    defn = results.definition
    lines = [
        t(
            "📊 Poll results: {title} (round {number}, closed {closed})",
            title=pick(defn.title, t.locale),
            number=results.number,
            closed=closed.astimezone(tz).strftime("%H:%M %d/%m/%Y"),
        ),
        t(
            "Responses: {responded} of {invited} ({rate}).",
            responded=results.responded,
            invited=results.invited,
            rate=_pct(results.responded, results.invited),
        ),
    ]
    if defn.anonymous:
        lines.append(t("Anonymous poll: answers are not linked to anyone."))
    low = sorted(
        (u for u in results.units if u.invited),
        key=lambda u: (u.responded / u.invited, u.code),
    )[:LOWEST_UNITS]
    if len(results.units) > 1 and low:
        lines += ["", t("Lowest response by unit:")]
        lines += [f"• {u.code} · {u.name}: {u.responded}/{u.invited}" for u in low]
    for q in results.questions:
        lines += ["", *_question_lines(t, q, results)]
    return "\n".join(lines)


def draw_results_chart(t: Translator, results: RoundResults, target: Path) -> Path | None:
    """One horizontal bar chart per choice or scale question; None when there is none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    defn = results.definition
    # Questions whose figures are withheld, or shown as a mean only, get no bars at all.
    shown = [
        q
        for q in results.questions
        if q.type in (QuestionType.SINGLE, QuestionType.MULTI, QuestionType.SCALE)
        and not (show := published(q, results)).withheld
        and show.distribution
    ]
    if not shown:
        return None
    fig, axes = plt.subplots(len(shown), 1, figsize=(8, 2.4 * len(shown)), dpi=100, squeeze=False)
    for ax, q in zip((a[0] for a in axes), shown, strict=True):
        question = defn.question(q.id)
        assert question is not None
        if q.type == QuestionType.SCALE:
            labels = [str(n) for n in range(1, 6)]
            values = [q.counts.get(label, 0) for label in labels]
            title = pick(q.text, t.locale)
            if q.mean is not None:
                title += " — " + t("mean {mean}", mean=f"{q.mean:.2f}")
        else:
            labels = [_short(pick(o.text, t.locale), 40) for o in question.options]
            values = [q.counts.get(o.value, 0) for o in question.options]
            title = pick(q.text, t.locale)
        figures = published(q, results).figures or {}
        keys = [o.value for o in question.options] if question.options else labels
        # A withheld count draws no bar: only its "< 3" (or "≥ 3") is written.
        notes = [
            f.shown(results.min_group_size) if (f := figures.get(key)) and f.withheld else str(v)
            for key, v in zip(keys, values, strict=True)
        ]
        values = [0 if note != str(v) else v for note, v in zip(notes, values, strict=True)]
        ax.barh(labels[::-1], values[::-1], color="#2f6f9f")
        ax.set_title(_short(title, 90), fontsize=9)
        ax.tick_params(labelsize=8)
        for y, (v, note) in enumerate(zip(values[::-1], notes[::-1], strict=True)):
            ax.text(v, y, f" {note}", va="center", fontsize=8)
    fig.suptitle(
        t(
            "{title}: {responded} of {invited} responded",
            title=_short(pick(defn.title, t.locale), 60),
            responded=results.responded,
            invited=results.invited,
        ),
        fontsize=10,
    )
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png")
    plt.close(fig)
    return target


def render_compliance(t: Translator, c: Compliance, tz: ZoneInfo, limit: int = 40) -> str:
    lines = [
        t(
            "📝 Situation reports for {period} (due {due})",
            period=c.period,
            due=c.due_at.astimezone(tz).strftime("%H:%M %d/%m/%Y"),
        ),
        t(
            "Expected {expected} · received {received} · on time {on_time} · late {late} · missing {missing}",
            expected=c.expected,
            received=c.received,
            on_time=c.count("on_time"),
            late=c.count("late"),
            missing=c.count("missing"),
        ),
    ]
    late = [u for u in c.units if u.status == "late"]
    missing = [u for u in c.units if u.status == "missing"]
    if late:
        lines += ["", t("Filed late:")]
        lines += [
            f"• {u.code} · {u.name} · {u.filed_at.astimezone(tz):%d/%m %H:%M}"
            for u in late[:limit]
            if u.filed_at is not None
        ]
    if missing:
        lines += ["", t("Missing:")]
        for u in missing[:limit]:
            note = "" if u.contact_points else " · " + t("no contact point registered")
            lines.append(f"• {u.code} · {u.name}{note}")
        if len(missing) > limit:
            lines.append(t("… and {count} more", count=len(missing) - limit))
    return "\n".join(lines)


async def digest_lines(t: Translator, session: Session, tz: ZoneInfo, now: datetime) -> list[str]:
    """Open polls' response rates and late situation reports, for the leaders' digest."""
    rounds = await open_rounds_by_closing(session)
    polls: list[str] = []
    sitreps: list[str] = []
    for rnd in rounds:
        assert rnd.id is not None
        defn = PollDef.model_validate(rnd.definition)
        title = pick(defn.title, t.locale)
        if defn.kind == "poll":
            invited, responded = await response_rate(session, rnd.id)
            closes = rnd.closes_at.astimezone(tz).strftime("%H:%M %d/%m")
            polls.append(
                f"• {title}: {responded}/{invited} ({_pct(responded, invited)}) · "
                + t("closes {when}", when=closes)
            )
            continue
        c = await compliance(session, rnd.id)
        line = t(
            "• {title} {period}: received {received} of {expected}",
            title=title,
            period=rnd.period,
            received=c.received,
            expected=c.expected,
        )
        if now > c.due_at:
            missing = [u.code for u in c.units if u.status == "missing"]
            if missing:
                shown = ", ".join(missing[:30]) + (" …" if len(missing) > 30 else "")
                line += "\n  " + t(
                    "Late, not filed ({count}): {units}", count=len(missing), units=shown
                )
        sitreps.append(line)
    lines: list[str] = []
    if polls:
        lines += ["", t("📊 Open polls, responses so far:"), *polls]
    if sitreps:
        lines += ["", t("📝 Situation reports:"), *sitreps]
    return lines


def theme_lines(t: Translator, themes: list[Theme]) -> list[str]:
    """The main themes of free-text answers with their counts (each at least the smallest group
    that may be published, so no theme points at one person)."""
    if not themes:
        return []
    return ["  " + t("Main themes:")] + [f"  • {th.name}: {th.count}" for th in themes]
