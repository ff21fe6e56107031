"""A simulated month of the whole organisation (#14 §1), through the real engine, storage,
scheduled jobs and delivery worker, with fake messengers (bot/simulate).

    uv run python bench/month.py                      # the province: 113 units, 4,899 members
    uv run python bench/month.py --scale small --days 7 --seed 3

Prints the month's figures and targets, and checks every count the database holds against the
simulator's own tally. Exit status 0 only when every target is met and every check passes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `bench` is not an installed package

from bench.common import make_settings, scratch_dir, setup_logging, verdict  # noqa: E402
from bot.app import build_core  # noqa: E402
from bot.simulate import MonthResult, Scale, Scenario, simulate  # noqa: E402

WALL_TARGET_S = 600.0
START = datetime(2026, 11, 1, tzinfo=UTC) - timedelta(hours=7)  # 1 November, local midnight


def scenarios(days: int) -> list[Scenario]:
    """A department absent for a week from day 3, and the server down over day 5's digest."""
    return [
        Scenario.absent_department(timedelta(days=3), timedelta(days=min(7, days))),
        Scenario.server_down(timedelta(days=min(5, days - 1), hours=7), timedelta(hours=2)),
    ]


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def print_figures(result: MonthResult) -> None:
    f, t = result.figures, result.tally
    print(f"\nReports: {t.reports} filed ({t.hot} hot), {t.drafts_abandoned} drafts abandoned")
    print(f"  anonymity {dict(t.by_anonymity)}; channels {dict(t.by_channel)}")
    print(
        f"  typed {t.typed_reports}, tapped {t.tapped_reports}; asked {t.asked}, answered "
        f"{t.answered}; resolved {t.resolved}, rejected {t.rejected}, confirmed {t.confirmed}, "
        f"disputed {t.disputed}"
    )
    print(
        f"Hot alert latency: p50 {f['hot_alert_p50_s']:.2f} s, max {f['hot_alert_max_s']:.2f} s "
        f"({f['hot_alerts']} alerts, {f['hot_alerts_missing']} missing)"
    )
    print(f"Time to acknowledge: p50 {f['ack_p50_h']:.1f} h, p90 {f['ack_p90_h']:.1f} h")
    print(f"Time to resolve: p50 {f['resolve_p50_h']:.1f} h, p90 {f['resolve_p90_h']:.1f} h")
    print(f"Resolved on time: {pct(f['on_time_share'])}")
    print(f"Reporters told the outcome: {pct(f['told_share'])} of {f['finished']} finished cases")
    print(
        f"Overdue cases nudged: {pct(f['nudged_share'])} of {f['overdue']}; escalated: "
        f"{pct(f['escalated_share'])} of {f['escalation_due']} past the ladder"
    )
    for key, value in f.items():
        if key.startswith(("response rate", "sitrep")):
            print(f"{key}: {pct(value) if isinstance(value, float) else value}")
    print(
        "Messages sent (outbox) against the platform limits, peak per token/s, chat/s, group/min:"
    )
    for channel, (token, private, group) in sorted(f["rate_peaks"].items()):
        print(f"  {channel}: {token}/s, {private}/s, {group}/min")
    print(f"  total {len(result.wire.sent)} messages, {result.wire.replies} direct replies")


def print_checks(result: MonthResult) -> None:
    print("\nTargets:")
    for target in result.targets:
        value = target.value
        if target.unit == "s":
            shown = f"max {value:.2f} s"
        else:
            shown = pct(value) if isinstance(value, float) and value <= 1 else f"{value}"
        print(f"  [{verdict(target.ok)}] {target.name}: {shown} (target {target.goal})")
    print("Counts against the simulator's tally:")
    for check in result.checks:
        detail = "" if check.ok else f": expected {check.expected}, found {check.actual}"
        print(f"  [{verdict(check.ok)}] {check.name}{detail}")
    for error in result.errors[:20]:
        print(f"  [FAIL] {error}")
    print_ladder_misses(result)


def print_ladder_misses(result: MonthResult) -> None:
    """The cases a ladder target missed, each with the facts that explain it."""
    lad = result.ladder
    if not lad.missed:
        return
    print(f"Ladder misses: {', '.join(lad.missed)}")
    print(f"  server back at (UTC): {', '.join(f'{m:%d/%m %H:%M}' for m in result.restarts)}")
    for code in lad.missed_codes:
        print(f"  {code}:")
        for line in lad.facts.get(code, []):
            print(f"    {line}")


async def main(args: argparse.Namespace) -> int:
    errors = setup_logging()
    scale: Any = getattr(Scale, args.scale)()
    start = START if args.start is None else datetime.fromisoformat(args.start)
    with scratch_dir("month-") as workdir:
        settings = make_settings(workdir, timezone=args.timezone)
        wall, cpu = time.perf_counter(), time.process_time()
        core = await build_core(settings)
        try:
            result = await simulate(
                core,
                seed=args.seed,
                scale=scale,
                start=start,
                days=args.days,
                scenarios=scenarios(args.days),
            )
        finally:
            await core.close()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"A simulated month: {scale.name}, {args.days} days from {start:%Y-%m-%d %H:%M} UTC, "
        f"seed {args.seed}; {len(result.jobs_run)} job runs"
    )
    print_figures(result)
    print_checks(result)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fast = wall <= WALL_TARGET_S
    print(
        f"\nWall time {wall:.1f} s (target ≤ {WALL_TARGET_S:.0f} s: {verdict(fast)}), CPU {cpu:.1f} s, "
        f"peak memory {peak:.0f} MB; {errors.count} errors logged"
    )
    ok = result.ok and fast and errors.count == 0
    print(f"\n{verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=("province", "demo", "small"), default="province")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", help="ISO moment with an offset (default 1 Nov 2026, local)")
    parser.add_argument("--timezone", default="Asia/Ho_Chi_Minh")
    logging.getLogger("bot.keys").setLevel(logging.ERROR)
    sys.exit(asyncio.run(main(parser.parse_args())))
