"""The port through which the dispatcher, the delivery worker and the jobs report what they did
(bot/ops/metrics.py implements it with Prometheus counters). They call it and know nothing of
Prometheus; a process without metrics gets `NO_TELEMETRY`, which does nothing."""

from __future__ import annotations

from typing import Literal, Protocol

# What became of one inbound update: answered, a replay already handled, refused because the
# person floods us, or failed (they got the apology).
UpdateOutcome = Literal["ok", "duplicate", "throttled", "error"]
# What became of one outbox send: sent, to be retried, refused with a 429 (retried after the
# platform's wait) or failed for good.
DeliveryOutcome = Literal["sent", "retry", "rate_limited", "failed"]


class Telemetry(Protocol):
    def update_handled(self, channel: str, outcome: UpdateOutcome, seconds: float) -> None: ...

    def delivered(self, channel: str, outcome: DeliveryOutcome) -> None: ...

    def job_ran(self, job: str, ok: bool, seconds: float) -> None: ...


class NoTelemetry:
    def update_handled(self, channel: str, outcome: UpdateOutcome, seconds: float) -> None:
        pass

    def delivered(self, channel: str, outcome: DeliveryOutcome) -> None:
        pass

    def job_ran(self, job: str, ok: bool, seconds: float) -> None:
        pass


NO_TELEMETRY: Telemetry = NoTelemetry()
