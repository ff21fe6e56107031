"""Scale-out benchmark (not a test): the report flow through webhooks on PostgreSQL with one and
with two `grassroots run` instances, the outbox's delivery rate, and the leader's failover time.

`uv run python bench/scale.py [--members 200] [--kills 5]`

For each instance count, on a fresh PostgreSQL database (TEST_POSTGRES_URL, or the default local
role), `--members` members file a report at once, each step waiting for the answer, steps sprayed
round-robin over the instances (the driver and tests/test_cluster_instances.py share one
balancer). Printed:

- steps/s and p50/p95 step latency for each, and the ratio 2 ÷ 1;
- the outbox (staff cards, hot alerts) with 2 instances: messages per second against the
  configured rate, the most in any one second, and the 429s the fake answered;
- the leader's failover time over `--kills` kill -9 (the successor holds the lock);
- how the two cores were spent: CPU seconds of each instance, of the PostgreSQL backends serving
  this database, and of this process (the driver and the fake Bot API share it).

The figures and what they mean are in docs/performance.md, "Scale-out".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `bench` and `tests` are not installed packages

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import psutil  # noqa: E402

import tests.test_cluster_instances as cl  # noqa: E402
from bench.common import percentile, register_members, scratch_dir, setup_logging  # noqa: E402
from bench.person_lock import fresh_database  # noqa: E402
from bot.app import build_core, seed_demo  # noqa: E402
from storage import admin  # noqa: E402
from storage.leader import LEADER_KEY  # noqa: E402
from tests.conftest import make_settings  # noqa: E402

RATE = 30  # the platform's messages per second per bot token: the fake refuses more
STEP_TIMEOUT = 600.0  # seconds a member waits for one answer before the run fails


@dataclass
class Run:
    instances: int
    steps: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    outbox: int = 0
    outbox_seconds: float = 0.0
    peak_second: int = 0
    too_many: int = 0
    failovers: list[float] = field(default_factory=list)

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


async def backends(db_url: str) -> list[int]:
    """PostgreSQL backend processes serving this database (other work on the machine excluded)."""

    name = db_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(db_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await conn.close()
    return [int(r["pid"]) for r in rows]


def peak_in_one_second(times: list[float]) -> int:
    peak, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


async def prepare(workdir: Path, url: str, members: int) -> None:

    core = await build_core(make_settings(workdir, url))
    await seed_demo(core)
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "telegram", str(cl.STAFF_CHAT))
        await admin.bind_chat(session, "leaders", "telegram", str(cl.LEADERS_CHAT))
    await register_members(core, [cl.FIRST_MEMBER + n for n in range(members)])
    await core.close()


async def measure(instances: int, members: int, kills: int) -> Run:

    run = Run(instances)
    fake = cl.ClusterFake(budget=RATE)
    # All members at once on one instance queue behind each other: on a loaded machine a step
    # waited more than the test's 90 s and the run ended in an AssertionError.
    fake.step_timeout = STEP_TIMEOUT
    await fake.start()
    async with fresh_database("gr_scale") as url:
        with scratch_dir("grassroots-scale-") as workdir:
            await prepare(workdir, url, members)
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "DATA_DIR": str(workdir),
                "ATTACHMENTS_DIR": str(workdir / "attachments"),
                "WEB_HOST": "127.0.0.1",
                "WEB_CHAT": "false",
                "TELEGRAM_BOT_TOKEN": cl.TOKEN,
                "TELEGRAM_API_URL": fake.url,
                "TELEGRAM_MODE": "webhook",
                "TELEGRAM_WEBHOOK_SECRET": cl.SECRET,
                "TELEGRAM_RATE_PER_SECOND": str(RATE),
                # Telegram allows 20 a minute to one group; paced at that, 300 cards take a
                # quarter of an hour. The bench lifts it to see the token's own limit at work.
                "TELEGRAM_RATE_PER_CHAT_PER_SECOND": str(RATE),
                "TELEGRAM_RATE_PER_GROUP_PER_MINUTE": str(60 * RATE),
                "ZALO_BOT_TOKEN": "",
                "LOG_LEVEL": "WARNING",
                # As tests/test_cluster_instances.py: the machine's one PostgreSQL also serves
                # the test suites; 8 updates in hand within 8 (+ 8) connections.
                "DATABASE_POOL_SIZE": "8",
                "TELEGRAM_CONCURRENCY": "8",
            }
            cluster = cl.Cluster(env, workdir, [cl.free_port() for _ in range(instances)])
            cluster.http = aiohttp.ClientSession()
            try:
                await asyncio.gather(*(cluster.start(i) for i in range(instances)))
                await timed_flow(run, fake, cluster, url, members)
                await cl.settled(url, members, seconds=600)
                times = sorted(fake.group_times)
                run.outbox = len(times)
                run.outbox_seconds = times[-1] - times[0] if len(times) > 1 else 0.0
                run.peak_second = peak_in_one_second(times)
                run.too_many = fake.too_many
                if kills and instances > 1:
                    run.failovers = await failovers(cluster, url, kills)
            finally:
                for proc in cluster.procs:
                    if proc is not None and proc.returncode is None:
                        proc.send_signal(signal.SIGTERM)
                        await asyncio.wait_for(proc.wait(), 90)
                await cluster.http.close()
                await fake.stop()
    return run


async def timed_flow(run: Run, fake: Any, cluster: Any, url: str, members: int) -> None:

    pids = {f"instance {i + 1}": [p.pid] for i, p in enumerate(cluster.procs) if p}
    pids["PostgreSQL backends"] = await backends(url)
    pids["driver + fake Bot API"] = [os.getpid()]
    before = {k: cpu_of(v) for k, v in pids.items()}
    started = time.perf_counter()
    await asyncio.gather(
        *(cl.member_flow(fake, cluster, n, False, run.latencies) for n in range(members))
    )
    run.seconds = time.perf_counter() - started
    run.steps = len(run.latencies)
    pids["PostgreSQL backends"] = sorted(
        set(pids["PostgreSQL backends"]) | set(await backends(url))
    )
    run.cpu = {k: cpu_of(v) - before.get(k, 0.0) for k, v in pids.items()}


async def leader_pids(db_url: str) -> set[int]:
    """Processes whose connection holds the leader's lock (storage/leader.py names each
    connection "<host> <pid>")."""
    conn = await asyncpg.connect(db_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT a.application_name FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
            "AND l.granted AND l.objsubid = 1 "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
            LEADER_KEY,
        )
    finally:
        await conn.close()
    return {int(str(r[0]).rsplit(" ", 1)[1]) for r in rows if r[0]}


async def wait_for_leader(db_url: str, seconds: float, other_than: int | None = None) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = await leader_pids(db_url) - {other_than}
        if len(pids) == 1:
            return pids.pop()
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no single leader within {seconds} s")


async def failovers(cluster: Any, url: str, kills: int) -> list[float]:
    """kill -9 the leader, time until another instance holds the lock, restart the dead one."""

    seconds = []
    for _ in range(kills):
        leader = await wait_for_leader(url, 60)
        [index] = [i for i, p in enumerate(cluster.procs) if p and p.pid == leader]
        cluster.down.add(index)
        killed = time.monotonic()
        cluster.procs[index].send_signal(signal.SIGKILL)
        await cluster.procs[index].wait()
        await wait_for_leader(url, 60, other_than=leader)
        seconds.append(time.monotonic() - killed)
        await cluster.start(index)
    return seconds


def report(one: Run, two: Run) -> None:
    print("\nReport flow through webhooks on PostgreSQL (each step waits for its answer)")
    for r in (one, two):
        print(
            f"  {r.instances} instance(s): {r.steps} steps in {r.seconds:.1f} s = "
            f"{r.steps_per_s:.1f} steps/s; p50 {percentile(r.latencies, 0.5) * 1000:.0f} ms, "
            f"p95 {percentile(r.latencies, 0.95) * 1000:.0f} ms"
        )
    ratio = two.steps_per_s / one.steps_per_s if one.steps_per_s else float("nan")
    print(f"  ratio 2 / 1 instances: {ratio:.2f}x (target 1.3x)")
    rate = two.outbox / two.outbox_seconds if two.outbox_seconds else float("nan")
    print(
        f"\nOutbox with 2 instances: {two.outbox} group messages in {two.outbox_seconds:.1f} s = "
        f"{rate:.1f}/s against a limit of {RATE}/s; most in any one second {two.peak_second}; "
        f"429s answered by the fake: {two.too_many} (both runs: {one.too_many + two.too_many})"
    )
    if two.failovers:
        shown = ", ".join(f"{s:.1f}" for s in two.failovers)
        print(
            f"\nLeader failover over {len(two.failovers)} kill -9: {shown} s; "
            f"worst {max(two.failovers):.1f} s (target < 15 s)"
        )
    else:
        print("\nLeader failover: not available")
    print("\nCPU seconds during the timed flow (2 cores = 2 CPU-seconds per second):")
    for r in (one, two):
        total = sum(r.cpu.values())
        parts = "; ".join(f"{k} {v:.1f}" for k, v in r.cpu.items())
        print(
            f"  {r.instances} instance(s), {r.seconds:.1f} s wall, {total:.1f} CPU-s "
            f"({total / r.seconds:.2f} cores busy): {parts}"
        )


async def main_async(args: argparse.Namespace) -> None:
    one = await measure(1, args.members, 0)
    two = await measure(2, args.members, args.kills)
    report(one, two)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--kills", type=int, default=5)
    setup_logging()
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
