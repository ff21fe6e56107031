"""Runs one data-defined form: asks each step, checks each answer, supports back, skip and edit.

Choices are recomputed from the state on every turn, so a typed number, a typed label and a
button press all resolve against exactly the list the person was shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from handlers.callbacks import edit_key, step_of, unit_key, unit_of
from handlers.forms import Catalog, Form, Step, StepType
from handlers.i18n import Translator
from handlers.ports import PersonView, UnitView
from handlers.text import fold, labelled, matches_all_words
from handlers.types import ACCEPTED_MEDIA, Media, MediaKind

UNIT_PAGE_SIZE = 8
REVIEW = "review"
EDIT_MENU = "edit_menu"


@dataclass
class Prompt:
    text: str
    choices: list[tuple[str, str]] = field(default_factory=list)  # (key, label)


@dataclass
class Outcome:
    """What one answer did to the form (not to be confused with the conversation's `Turn`)."""

    messages: list[Prompt] = field(default_factory=list)
    completed: bool = False
    cancelled: bool = False
    selected_label: str | None = None
    ask_again: bool = True  # re-send the current prompt after the messages


@dataclass
class Answer:
    key: str | None = None  # a resolved choice
    text: str | None = None  # free text that matched no choice
    media: tuple[Media, ...] = ()


class FormRunner:
    def __init__(
        self,
        catalog: Catalog,
        t: Translator,
        units: list[UnitView],
        person: PersonView | None,
        profile_name: str,
        max_text_length: int,
        has_buttons: bool = True,
    ) -> None:
        self.has_buttons = has_buttons
        self.catalog = catalog
        self.t = t
        self.units = units
        self.person = person
        self.profile_name = profile_name.strip()
        self.max_text_length = max_text_length

    # -- asking ----------------------------------------------------------------------------------
    def start(self, form: Form, fs: dict[str, Any]) -> None:
        if not fs.get("step"):
            fs["step"] = self._next_step(form, fs, None)

    def prompt(self, form: Form, fs: dict[str, Any]) -> Prompt:
        t = self.t
        step_id = fs["step"]
        if step_id == REVIEW:
            return Prompt(
                self.review_text(form, fs),
                [("confirm", t("✅ Send")), ("edit", t("✏️ Edit")), ("cancel", t("✖ Cancel"))],
            )
        if step_id == EDIT_MENU:
            choices = [(edit_key(s.id), t(s.label or s.id)) for s in form.steps]
            choices.append(("review", t("Back to the review")))
            return Prompt(t("Which part do you want to change?"), choices)
        step = form.step(step_id)
        visible = [s for s in form.steps if s.id not in fs.get("preset", [])]
        position = next((i for i, s in enumerate(visible, 1) if s.id == step.id), 1)
        head = t("Question {n} of {total}", n=position, total=len(visible))
        body = t(step.prompt).format(
            min=step.min_length,
            max=step.max_items if step.type == StepType.MEDIA else step.max_length,
        )
        lines = [f"({head}) {body}"]
        current = self.describe_answer(step, fs["answers"].get(step.id))
        if current and step.type != StepType.MEDIA:
            lines.append(t("Current answer: {answer}", answer=current))
        choices = self.choices(form, step, fs)
        if step.type == StepType.UNIT:
            lines.extend(self._unit_header(form, fs))
        if step.type == StepType.MEDIA:
            count = len(fs["answers"].get(step.id) or [])
            if count:
                lines.append(t("Attachments received so far: {count}.", count=count))
        if choices:
            if self.has_buttons:
                lines.append(t("Reply with a number, or tap a button."))
            else:
                lines.append(t("Reply with the number of your choice."))
        if step.optional:
            lines.append(t("This is optional: send /skip to leave it out."))
        return Prompt("\n".join(lines), choices)

    def choices(self, form: Form, step: Step, fs: dict[str, Any]) -> list[tuple[str, str]]:
        t = self.t
        if step.type == StepType.CHOICE:
            if step.source == "categories":
                return [(c.code, c.label(t.locale)) for c in self.catalog.categories]
            return [(o.value, t(o.label)) for o in step.options]
        if step.type == StepType.UNIT:
            return self._unit_choices(form, fs)
        if step.type == StepType.TEXT and step.suggest_profile_name and self._profile_fits(step):
            return [("profile", t("Use “{name}”", name=self.profile_name[:60]))]
        if step.type == StepType.MEDIA:
            return [("done", t("Done"))]
        return []

    def _profile_fits(self, step: Step) -> bool:
        """The messenger's name is offered only when it would pass as a typed answer."""
        return len(self.profile_name) >= max(1, step.min_length)

    def current_choices(self, form: Form, fs: dict[str, Any]) -> list[tuple[str, str]]:
        step_id = fs.get("step")
        if step_id in (REVIEW, EDIT_MENU):
            return self.prompt(form, fs).choices
        if not step_id:
            return []
        return self.choices(form, form.step(step_id), fs)

    # -- the unit picker: 113 units do not fit one keyboard, so page and search ------------------
    def _matching_units(self, fs: dict[str, Any]) -> list[UnitView]:
        query = fs.get("unit_query") or ""
        if not query:
            return self.units
        return search_units(self.units, query)

    def _unit_header(self, form: Form, fs: dict[str, Any]) -> list[str]:
        t = self.t
        units = self._matching_units(fs)
        pages = max(1, -(-len(units) // UNIT_PAGE_SIZE))
        page = min(fs.get("unit_page", 0), pages - 1)
        lines = []
        if fs.get("unit_query"):
            lines.append(
                t("Units matching “{query}”: {count}.", query=fs["unit_query"], count=len(units))
            )
        if pages > 1:
            lines.append(t("Page {page} of {pages}.", page=page + 1, pages=pages))
        return lines

    def _unit_choices(self, form: Form, fs: dict[str, Any]) -> list[tuple[str, str]]:
        t = self.t
        units = self._matching_units(fs)
        pages = max(1, -(-len(units) // UNIT_PAGE_SIZE))
        page = min(fs.get("unit_page", 0), pages - 1)
        out: list[tuple[str, str]] = []
        own = self._own_unit()
        if own and not fs.get("unit_query") and page == 0 and form.id != "onboarding":
            out.append(("mine", t("My unit: {name}", name=own.name)))
        start = page * UNIT_PAGE_SIZE
        out.extend((unit_key(u.code), u.name) for u in units[start : start + UNIT_PAGE_SIZE])
        if page > 0:
            out.append(("prev", t("◀ Previous page")))
        if page < pages - 1:
            out.append(("next", t("Next page ▶")))
        if fs.get("unit_query"):
            out.append(("all", t("Show all units")))
        return out

    def _own_unit(self) -> UnitView | None:
        if not self.person or not self.person.unit_code:
            return None
        return self.unit(self.person.unit_code)

    def unit(self, code: str | None) -> UnitView | None:
        return next((u for u in self.units if u.code == code), None)

    # -- answering -------------------------------------------------------------------------------
    def resolve(self, form: Form, fs: dict[str, Any], text: str) -> Answer:
        """A typed number or a typed label picks a choice; anything else stays free text."""
        choices = self.current_choices(form, fs)
        stripped = text.strip().rstrip(".")
        if stripped.isdecimal() and choices:
            n = int(stripped)
            if 1 <= n <= len(choices):
                return Answer(key=choices[n - 1][0])
            return Answer(text=text)  # out of range: judged by the step
        folded = fold(stripped)
        for key, label in choices:
            if folded and fold(label) == folded:
                return Answer(key=key)
        return Answer(text=text)

    def handle(self, form: Form, fs: dict[str, Any], answer: Answer) -> Outcome:
        step_id = fs["step"]
        if step_id == REVIEW:
            return self._handle_review(form, fs, answer)
        if step_id == EDIT_MENU:
            return self._handle_edit_menu(form, fs, answer)
        step = form.step(step_id)
        handler = {
            StepType.CHOICE: self._handle_choice,
            StepType.TEXT: self._handle_text,
            StepType.UNIT: self._handle_unit,
            StepType.MEDIA: self._handle_media,
        }[step.type]
        return handler(form, step, fs, answer)

    def _label_of(self, form: Form, fs: dict[str, Any], key: str) -> str | None:
        return next((label for k, label in self.current_choices(form, fs) if k == key), None)

    def _not_understood(self, step: Step, answer: Answer) -> Outcome:
        t = self.t
        if answer.media:
            return Outcome([Prompt(self.media_refusal(answer.media[0], step))])
        if step.type == StepType.UNIT:
            return Outcome(
                [Prompt(t("Please pick a unit by its number, or type part of its name."))]
            )
        return Outcome(
            [
                Prompt(
                    t(
                        "Sorry, that is not one of the choices. Please reply with a number from the list."
                    )
                )
            ]
        )

    def media_refusal(self, media: Media, step: Step | None) -> str:
        t = self.t
        if media.too_large:
            return t(
                "This file is too large to accept. Please send a smaller one (a photo rather than a video, for example)."
            )
        if media.kind == MediaKind.STICKER:
            return t("Stickers cannot be used as an answer here.")
        if step is not None and step.type == StepType.MEDIA:
            return t(
                "Sorry, this kind of file is not supported. Please send a photo, a document, a voice message or a location."
            )
        return t(
            "I was not expecting a file or a photo here. You can add attachments later in the report, at the attachments question."
        )

    def _handle_choice(self, form: Form, step: Step, fs: dict[str, Any], answer: Answer) -> Outcome:
        if answer.key is None:
            return self._not_understood(step, answer)
        label = self._label_of(form, fs, answer.key)
        if label is None:
            return self._not_understood(step, answer)
        if step.must_be and answer.key != step.must_be:
            return Outcome([Prompt(self.t(step.refusal))], cancelled=True, ask_again=False)
        fs["answers"][step.id] = answer.key
        return self._advance(form, fs, label)

    def _handle_text(self, form: Form, step: Step, fs: dict[str, Any], answer: Answer) -> Outcome:
        t = self.t
        if answer.key == "profile" and self._profile_fits(step):
            value = self.profile_name[: step.max_length]
            fs["answers"][step.id] = value
            return self._advance(form, fs, value)
        kept: list[dict[str, Any]] = []
        if answer.media:
            # A photo with a caption sent at a text question: the caption answers it and the
            # photo is kept for the attachments question, so nothing has to be sent twice.
            media_step = next((s for s in form.steps if s.type == StepType.MEDIA), None)
            usable = [m for m in answer.media if m.kind in ACCEPTED_MEDIA and not m.too_large]
            if not (answer.text and answer.text.strip() and media_step and usable):
                return self._not_understood(step, answer)
            kept = [_media_item(m) for m in usable]
        text = (answer.text if answer.text is not None else "").strip()
        limit = min(step.max_length, self.max_text_length)
        if len(text) > limit:
            return Outcome(
                [
                    Prompt(
                        t(
                            "Your text has {length} characters; the limit here is {limit}. Please shorten it and send it again. Your other answers are kept.",
                            length=len(text),
                            limit=limit,
                        )
                    )
                ]
            )
        if len(text) < step.min_length:
            return Outcome(
                [
                    Prompt(
                        t(
                            "That is too short: please write at least {min} characters.",
                            min=step.min_length,
                        )
                    )
                ]
            )
        fs["answers"][step.id] = text
        if kept:
            media_step = next(s for s in form.steps if s.type == StepType.MEDIA)
            items = fs["answers"].setdefault(media_step.id, [])
            items.extend(kept[: max(0, media_step.max_items - len(items))])
            outcome = self._advance(form, fs, None)
            outcome.messages.insert(0, Prompt(t("The photo or file is kept with your report.")))
            return outcome
        return self._advance(form, fs, None)

    def _handle_unit(self, form: Form, step: Step, fs: dict[str, Any], answer: Answer) -> Outcome:
        t = self.t
        if answer.key == "next":
            fs["unit_page"] = fs.get("unit_page", 0) + 1
            return Outcome()
        if answer.key == "prev":
            fs["unit_page"] = max(0, fs.get("unit_page", 0) - 1)
            return Outcome()
        if answer.key == "all":
            fs.pop("unit_query", None)
            fs["unit_page"] = 0
            return Outcome()
        if answer.key == "mine":
            own = self._own_unit()
            if own is not None:
                fs["answers"][step.id] = own.code
                return self._finish_unit(form, fs, own.name)
        if (code := unit_of(answer.key)) is not None:
            unit = self.unit(code)
            if unit is not None:
                fs["answers"][step.id] = unit.code
                return self._finish_unit(form, fs, unit.name)
        if answer.text and not answer.text.strip().isdecimal() and len(answer.text) <= 100:
            query = " ".join(answer.text.split())
            found = search_units(self.units, query)
            if not found:
                fs.pop("unit_query", None)
                fs["unit_page"] = 0
                return Outcome(
                    [
                        Prompt(
                            t(
                                "No unit matches “{query}”. Try another word, or pick from the list.",
                                query=query,
                            )
                        )
                    ]
                )
            fs["unit_query"] = query
            fs["unit_page"] = 0
            return Outcome()
        return self._not_understood(step, answer)

    def _finish_unit(self, form: Form, fs: dict[str, Any], label: str) -> Outcome:
        fs.pop("unit_query", None)
        fs.pop("unit_page", None)
        return self._advance(form, fs, label)

    def _handle_media(self, form: Form, step: Step, fs: dict[str, Any], answer: Answer) -> Outcome:
        t = self.t
        items: list[dict[str, Any]] = fs["answers"].setdefault(step.id, [])
        if answer.key == "done":
            return self._advance(form, fs, t("Done"))
        if not answer.media:
            return Outcome(
                [
                    Prompt(
                        t(
                            "Please send a photo, a document, a voice message or a location, or choose Done."
                        )
                    )
                ]
            )
        messages: list[Prompt] = []
        for media in answer.media:
            if media.kind not in ACCEPTED_MEDIA or media.too_large:
                messages.append(Prompt(self.media_refusal(media, step)))
                continue
            if len(items) >= step.max_items:
                break
            items.append(_media_item(media))
        if messages and not any(m.kind in ACCEPTED_MEDIA and not m.too_large for m in answer.media):
            return Outcome(messages)
        if len(items) >= step.max_items:
            messages.append(
                Prompt(
                    t(
                        "Received {count} attachments, the most one report can carry.",
                        count=len(items),
                    )
                )
            )
            outcome = self._advance(form, fs, None)
            outcome.messages[:0] = messages
            return outcome
        messages.append(
            Prompt(
                t(
                    "Attachment received ({count} of at most {max}). Send more, or choose Done.",
                    count=len(items),
                    max=step.max_items,
                ),
                [("done", t("Done"))],
            )
        )
        return Outcome(messages, ask_again=False)

    def _handle_review(self, form: Form, fs: dict[str, Any], answer: Answer) -> Outcome:
        if answer.key == "confirm":
            return Outcome(completed=True, ask_again=False, selected_label=self.t("✅ Send"))
        if answer.key == "edit":
            fs["step"] = EDIT_MENU
            return Outcome(selected_label=self.t("✏️ Edit"))
        if answer.key == "cancel":
            said = self.t("Cancelled. Nothing was sent. Send /report to start a new report.")
            return Outcome(
                [Prompt(said)], cancelled=True, ask_again=False, selected_label=self.t("✖ Cancel")
            )
        return Outcome([Prompt(self.t("Please choose Send, Edit or Cancel."))])

    def _handle_edit_menu(self, form: Form, fs: dict[str, Any], answer: Answer) -> Outcome:
        if answer.key == "review":
            fs["step"] = REVIEW
            return Outcome()
        step_id = step_of(answer.key)
        if step_id is not None and step_id in [s.id for s in form.steps]:
            fs["step"] = step_id
            fs["editing"] = True
            return Outcome(selected_label=self._label_of(form, fs, edit_key(step_id)))
        return Outcome([Prompt(self.t("Please pick the number of the part to change."))])

    # -- moving between steps --------------------------------------------------------------------
    def _next_step(self, form: Form, fs: dict[str, Any], after: str | None) -> str:
        ids = [s.id for s in form.steps]
        start = 0 if after is None else ids.index(after) + 1
        for step_id in ids[start:]:
            if step_id not in fs.get("preset", []):
                return step_id
        return REVIEW if form.review else ""

    def _advance(self, form: Form, fs: dict[str, Any], selected: str | None) -> Outcome:
        current = fs["step"]
        if fs.pop("editing", False) and form.review:
            fs["step"] = REVIEW
            return Outcome(selected_label=selected)
        fs.setdefault("history", []).append(current)
        nxt = self._next_step(form, fs, current)
        if not nxt:
            return Outcome(completed=True, ask_again=False, selected_label=selected)
        fs["step"] = nxt
        return Outcome(selected_label=selected)

    def back(self, form: Form, fs: dict[str, Any]) -> bool:
        if fs.get("step") in (REVIEW, EDIT_MENU):
            fs.pop("editing", None)
            last = next((s for s in reversed(form.steps) if s.id not in fs.get("preset", [])), None)
            if last is None:
                return False
            fs["step"] = last.id
            return True
        history: list[str] = fs.get("history", [])
        if not history:
            return False
        fs["step"] = history.pop()
        fs.pop("unit_query", None)
        fs.pop("unit_page", None)
        return True

    def skip(self, form: Form, fs: dict[str, Any]) -> Outcome | None:
        step_id = fs.get("step")
        if step_id in (None, REVIEW, EDIT_MENU):
            return None
        step = form.step(step_id)
        if not step.optional:
            return None
        fs["answers"].setdefault(step.id, [] if step.type == StepType.MEDIA else None)
        return self._advance(form, fs, None)

    # -- showing answers -------------------------------------------------------------------------
    def describe_answer(self, step: Step, value: Any) -> str:
        t = self.t
        if value in (None, "", []):
            return ""
        if step.type == StepType.CHOICE:
            if step.source == "categories":
                cat = self.catalog.category(value)
                return cat.label(t.locale) if cat else str(value)
            opt = next((o for o in step.options if o.value == value), None)
            return t(opt.summary or opt.label) if opt else str(value)
        if step.type == StepType.UNIT:
            unit = self.unit(value)
            return unit.name if unit else str(value)
        if step.type == StepType.MEDIA:
            return describe_media(t, value)
        return str(value)

    def review_text(self, form: Form, fs: dict[str, Any]) -> str:
        t = self.t
        lines = [t("Please check your report before sending it:"), ""]
        for step in form.steps:
            value = self.describe_answer(step, fs["answers"].get(step.id))
            lines.append(labelled(t(step.label or step.id), value or t("(none)")))
        if self._hidden_sender_with_documents(form, fs):
            lines += [
                "",
                t(
                    "⚠ Documents can carry their author's name in their properties. If that matters, remove them (Edit) or send photos of the pages instead."
                ),
            ]
        lines += ["", t("Send it, change something, or cancel?")]
        return "\n".join(lines)

    @staticmethod
    def _hidden_sender_with_documents(form: Form, fs: dict[str, Any]) -> bool:
        """We strip the metadata of photos, and of Word and PDF files for hidden senders, but
        cannot promise it for other documents."""
        answers = fs["answers"]
        hidden = answers.get("anonymity") in ("anonymous", "confidential")
        documents = any(
            isinstance(item, dict)
            and item.get("kind") == "document"
            and not _strippable_document(item)
            for step in form.steps
            if step.type == StepType.MEDIA
            for item in answers.get(step.id) or []
        )
        return hidden and documents


def _strippable_document(item: dict[str, Any]) -> bool:
    """Word (.docx) and PDF files, whose properties bot/documents.py strips."""
    ref = str(item.get("ref") or item.get("name") or "").lower()
    return item.get("mime") in STRIPPABLE_MIMES or ref.endswith((".docx", ".pdf"))


STRIPPABLE_MIMES = frozenset(
    {
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)


def _media_item(media: Media) -> dict[str, Any]:
    """An attachment as it is kept in the draft (JSON)."""
    return {
        "kind": media.kind.value,
        "ref": media.ref,
        "mime": media.mime,
        "size": media.size,
        "name": media.name[:200],
        "latitude": media.latitude,
        "longitude": media.longitude,
    }


def describe_media(t: Translator, items: list[dict[str, Any]]) -> str:
    """'2 photos, 1 location' in the reader's language."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item["kind"]] = counts.get(item["kind"], 0) + 1
    names = {
        "photo": lambda n: t.n("{count} photo", "{count} photos", n),
        "document": lambda n: t.n("{count} document", "{count} documents", n),
        "voice": lambda n: t.n("{count} voice message", "{count} voice messages", n),
        "location": lambda n: t.n("{count} location", "{count} locations", n),
    }
    return ", ".join(names[k](n) for k, n in counts.items() if k in names)


def search_units(units: list[UnitView], query: str) -> list[UnitView]:
    """Units whose name or code has every word; the whole phrase in order ranks first."""
    phrase = fold(query)
    found = [u for u in units if matches_all_words(query, u.name, u.code)]
    return sorted(found, key=lambda u: (phrase not in fold(u.name) and phrase != fold(u.code),))
