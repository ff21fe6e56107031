"""The port between the delivery worker and the channels: what a channel implements to send an
outbox row, and the error it raises when it could not. A module of its own so that channels
depend on this small contract, never on the worker (and the worker never on a channel)."""

from __future__ import annotations

from typing import Any, Protocol


class DeliveryError(Exception):
    """A send failed. `permanent`: retrying cannot help; `retry_after`: the messenger asked us to
    wait this many seconds before the next try."""

    def __init__(self, message: str, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Sender(Protocol):
    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        """Send one outbox payload; returns the message id where the channel has one."""
        ...
