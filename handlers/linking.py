"""One person across messengers: /link codes, their confirmation, /unlink.

A code is 40 random bits (handlers/linkcode), and guessing is bounded three ways, all counted in
the database so every instance sees the same numbers:

- "5 wrong tries against a code": a guesser never knows which code a try aims at, so every
  failed /link anywhere counts against every code live at that moment, and a code dies at its
  5th. Its owner hears of the first failed try and of the code's end (through the outbox).
- One messenger account may fail 5 times per 15 minutes.
- All accounts together may fail 20 times a minute; beyond that /link pauses for everyone,
  without even looking at the codes sent.

A person with web admin rights is never linked on a code alone: their existing messenger must
confirm, so a guessed or stolen code cannot take over a staff account.
"""

from __future__ import annotations

from datetime import datetime

from handlers import linkcode
from handlers.callbacks import LinkButton, encode, parse_as
from handlers.context import Turn
from handlers.i18n import Translations
from handlers.ports import LinkAlarm, Newcomer, PendingLink
from handlers.types import CallbackAnswer

LINK_MINUTES = 10
CODE_TRIES = 5
ACCOUNT_TRIES = 5
ACCOUNT_WINDOW = 15 * 60
GLOBAL_TRIES = 20
GLOBAL_WINDOW = 60
GLOBAL_KEY = "link:fail"
YES, NO = "yes", "no"


def _account_key(channel: str, external_id: str) -> str:
    return f"link:fail:{channel}:{external_id}"


def _minutes_left(window: int, latest: datetime | None, now: datetime) -> int:
    if latest is None:
        return 1
    left = window - (now - latest).total_seconds()
    return max(1, int(left // 60) + (1 if left % 60 else 0))


class LinkDesk:
    def __init__(self, translations: Translations) -> None:
        self.translations = translations

    async def on_command(self, turn: Turn) -> None:
        t = turn.t
        inbound = turn.inbound
        args = inbound.command_args.strip()
        if inbound.command == "unlink":
            await self._unlink(turn)
            return
        if turn.person is not None:
            if args.lower() in (YES, NO):
                await self._decide(turn, None, args.lower() == YES)
            elif args:
                turn.say(
                    t(
                        "This messenger is already registered. Send /unlink here first if you want to attach it to another account."
                    )
                )
            else:
                code = await turn.store.create_link_code(turn.person.id, LINK_MINUTES)
                turn.say(
                    t(
                        "To use your account on another messenger, send this there within {minutes} minutes:\n/link {code}",
                        minutes=LINK_MINUTES,
                        code=linkcode.shown(code),
                    )
                )
            return
        if not args:
            turn.say(
                t(
                    "Send /link on the messenger where you are already registered to get a code, then send /link CODE here."
                )
            )
            return
        await self._redeem(turn, args)

    async def _redeem(self, turn: Turn, typed: str) -> None:
        t = turn.t
        store = turn.store
        inbound = turn.inbound
        account_key = _account_key(inbound.channel, inbound.user_id)
        mine, my_latest = await store.recent_hits(account_key, ACCOUNT_WINDOW)
        if mine >= ACCOUNT_TRIES:
            turn.say(
                t(
                    "Too many wrong link codes were sent from here. Please try again in {minutes} minutes.",
                    minutes=_minutes_left(ACCOUNT_WINDOW, my_latest, turn.now),
                )
            )
            return
        everyone, _latest = await store.recent_hits(GLOBAL_KEY, GLOBAL_WINDOW)
        if everyone >= GLOBAL_TRIES:
            turn.say(
                t(
                    "Linking is paused for a moment because of too many wrong codes. Please try again in a minute."
                )
            )
            return
        code = linkcode.normalised(typed)
        newcomer = Newcomer(inbound.channel, inbound.user_id, inbound.chat_id, inbound.username)
        claim = (
            await store.redeem_link_code(code, newcomer, CODE_TRIES, LINK_MINUTES) if code else None
        )
        if claim is None:
            await store.hit(account_key, ACCOUNT_WINDOW)
            await store.hit(GLOBAL_KEY, GLOBAL_WINDOW)
            for alarm in await store.link_failed(CODE_TRIES):
                await self._warn_owner(turn, alarm)
            turn.say(
                t(
                    "This link code is not valid or has expired. Ask for a new one with /link on your other messenger."
                )
            )
            return
        person = claim.person
        if claim.confirm:
            await self._ask_owner(turn, claim.code_id, person.id, person.locale)
            turn.say(
                t(
                    "This account may use the web admin, so its existing messenger must confirm first. We have asked it; you will hear here when it is done."
                )
            )
            return
        turn.person = person
        turn.state.data.clear()
        turn.t = self.translations(person.locale)
        turn.say(
            turn.t(
                "Linked: this messenger now uses the account of {name}. Your reports and notifications follow you here.",
                name=person.display_name,
            )
        )

    async def _warn_owner(self, turn: Turn, alarm: LinkAlarm) -> None:
        t = self.translations(alarm.locale)
        if alarm.failures >= CODE_TRIES:
            text = t(
                "Your /link code no longer works: too many wrong codes were tried while it was valid. If you still want to link another messenger, send /link for a new code."
            )
        elif alarm.failures == 1:
            text = t(
                "Someone just sent a wrong /link code while your code was valid. If it was you, try again carefully. Never share your code: after {tries} wrong tries it stops working.",
                tries=CODE_TRIES,
            )
        else:
            return
        key = f"link-alarm:{alarm.code_id}:{alarm.failures}"
        await turn.store.tell_person(alarm.person_id, key, text, [])

    async def _ask_owner(self, turn: Turn, code_id: int, person_id: int, locale: str) -> None:
        t = self.translations(locale)
        inbound = turn.inbound
        who = (inbound.display_name or inbound.username or inbound.user_id)[:64]
        text = t(
            "Someone on {channel} ({who}) sent your /link code and asks to use your account. Confirm only if that was you.\nSend /link yes to confirm or /link no to refuse.",
            channel=inbound.channel,
            who=who,
        )
        choices = [
            (encode(LinkButton(code_id, accept=True)), t("Confirm")),
            (encode(LinkButton(code_id, accept=False)), t("Refuse")),
        ]
        await turn.store.tell_person(person_id, f"link-ask:{code_id}", text, choices)

    async def on_press(self, turn: Turn) -> None:
        """The owner's Confirm or Refuse, on the question sent through the outbox."""
        turn.reply.callback_answer = CallbackAnswer()
        button = parse_as(turn.inbound.callback, LinkButton)
        if turn.person is None or button is None:
            turn.say(turn.t("This button is not valid."))
            return
        await self._decide(turn, button.code_id, button.accept)

    async def _decide(self, turn: Turn, code_id: int | None, accept: bool) -> None:
        assert turn.person is not None
        t = turn.t
        done = await turn.store.decide_link(turn.person.id, code_id, accept)
        if done is None:
            turn.say(t("No link request is waiting for you: it was answered already or expired."))
            return
        await self._tell_newcomer(turn, done)
        if done.accepted:
            turn.say(t("Confirmed: your account is now linked on {channel}.", channel=done.channel))
        else:
            turn.say(
                t(
                    "Refused: nothing was linked. If you did not ask for this, someone knew your code; send /link only when you need one."
                )
            )

    async def _tell_newcomer(self, turn: Turn, done: PendingLink) -> None:
        t = self.translations(done.person.locale)
        if done.accepted:
            text = t(
                "Linked: this messenger now uses the account of {name}. Your reports and notifications follow you here.",
                name=done.person.display_name,
            )
        else:
            text = t("The account's owner did not confirm, so this messenger was not linked.")
        key = f"link-done:{done.channel}:{done.chat_id}:{turn.inbound.update_key}"
        await turn.store.tell_chat(done.channel, done.chat_id, key, text)

    async def _unlink(self, turn: Turn) -> None:
        t = turn.t
        inbound = turn.inbound
        if turn.person is None:
            turn.say(t("This messenger is not linked to anyone."))
        elif await turn.store.unlink(turn.person.id, inbound.channel, inbound.user_id):
            turn.state.data.clear()
            turn.say(
                t(
                    "This messenger is no longer linked to your account. Your reports stay with your account on your other messenger."
                )
            )
        else:
            turn.say(
                t("This is the only messenger on your account, so there is nothing to unlink.")
            )
