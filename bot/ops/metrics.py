"""Every Prometheus metric of an instance, in one registry the application owns (no global one:
two cores in one test process never share counts), and GET /metrics.

The counters are fed through the `Telemetry` port (scheduler/telemetry.py) by the dispatcher,
the delivery worker and the jobs. The outbox's depth and oldest pending age are read from the
database when Prometheus scrapes, so every instance reports the same shared queue.

/metrics shows volumes (how many reports, how busy each channel is), never a person: no label
holds a chat, a user or a text. It is still not for the public: with METRICS_TOKEN set it asks
for `Authorization: Bearer TOKEN`; without, it answers only requests made on this machine
(Prometheus beside the instance) that did not come through a reverse proxy."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from scheduler.telemetry import DeliveryOutcome, UpdateOutcome
from storage.db import Sessions
from storage.probes import outbox_backlog

log = logging.getLogger(__name__)
# A step is a database transaction around the engine: milliseconds, seconds when busy.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0)
SCRAPE_QUERY_SECONDS = 5.0


class Metrics:
    """The instance's metrics; implements scheduler.telemetry.Telemetry."""

    def __init__(self) -> None:
        # long: one definition per metric, read best as one list
        self.registry = CollectorRegistry()
        r = self.registry
        self.updates = Counter(
            "grassroots_updates",
            "Inbound updates handled, by channel and outcome (ok, duplicate, throttled, error)",
            ["channel", "outcome"],
            registry=r,
        )
        self.step_seconds = Histogram(
            "grassroots_step_seconds",
            "Time to handle one inbound update (its database transaction included)",
            ["channel"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "grassroots_deliveries",
            "Outbox sends, by channel and outcome (sent, retry, rate_limited, failed)",
            ["channel", "outcome"],
            registry=r,
        )
        self.rate_limited = Counter(
            "grassroots_rate_limited",
            "Sends the platform refused with 429 (flood control)",
            ["channel"],
            registry=r,
        )
        self.delivery_failures = Counter(
            "grassroots_delivery_failures",
            "Sends that failed (kind: retry = will be tried again, permanent = given up)",
            ["channel", "kind"],
            registry=r,
        )
        self.job_runs = Counter(
            "grassroots_job_runs",
            "Timed job runs, by job and outcome",
            ["job", "outcome"],
            registry=r,
        )
        self.job_seconds = Histogram(
            "grassroots_job_duration_seconds",
            "Duration of timed job runs",
            ["job"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.outbox_depth = Gauge(
            "grassroots_outbox_depth",
            "Outbox rows waiting or on the wire (all instances)",
            registry=r,
        )
        self.outbox_oldest = Gauge(
            "grassroots_outbox_oldest_pending_seconds",
            "Age of the oldest outbox row not yet sent; 0 when none waits",
            registry=r,
        )
        self.database_up = Gauge(
            "grassroots_database_up", "1 when the last scrape could read the database", registry=r
        )
        self.leader = Gauge(
            "grassroots_scheduler_leader",
            "1 on the instance that runs the timed jobs, 0 on the others",
            registry=r,
        )

    # -- the Telemetry port -------------------------------------------------------------------
    def update_handled(self, channel: str, outcome: UpdateOutcome, seconds: float) -> None:
        self.updates.labels(channel, outcome).inc()
        if outcome in ("ok", "error"):  # a replay or a refusal is no step
            self.step_seconds.labels(channel).observe(seconds)

    def delivered(self, channel: str, outcome: DeliveryOutcome) -> None:
        self.deliveries.labels(channel, outcome).inc()
        if outcome == "rate_limited":
            self.rate_limited.labels(channel).inc()
        if outcome in ("retry", "failed"):
            kind = "permanent" if outcome == "failed" else "retry"
            self.delivery_failures.labels(channel, kind).inc()

    def job_ran(self, job: str, ok: bool, seconds: float) -> None:
        self.job_runs.labels(job, "ok" if ok else "error").inc()
        self.job_seconds.labels(job).observe(seconds)

    # -- a scrape -----------------------------------------------------------------------------
    async def render(self, sessions: Sessions, is_leader: bool) -> bytes:
        """The text Prometheus reads, with the shared queue read from the database now."""
        self.leader.set(1 if is_leader else 0)
        try:
            async with asyncio.timeout(SCRAPE_QUERY_SECONDS), sessions() as session:
                depth, oldest = await outbox_backlog(session)
        except Exception as exc:  # the other metrics are still worth reading
            log.warning("metrics: cannot read the outbox (%s)", type(exc).__name__)
            self.database_up.set(0)
        else:
            self.database_up.set(1)
            self.outbox_depth.set(depth)
            age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
            self.outbox_oldest.set(max(0.0, age))
        return generate_latest(self.registry)


def may_scrape(request: web.Request, token: str) -> bool:
    """With a token: the right bearer token. Without: a direct request from this machine."""
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(token.encode(), given.encode())
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False  # came through a proxy: from anywhere
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def metrics_route(
    metrics: Metrics, sessions: Sessions, token: str, is_leader: Callable[[], bool]
) -> web.AbstractRouteDef:
    async def handler(request: web.Request) -> web.Response:
        if not may_scrape(request, token):
            # Not found rather than forbidden: the page's existence is nobody else's business.
            raise web.HTTPNotFound()
        body = await metrics.render(sessions, is_leader())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return web.get("/metrics", handler)
