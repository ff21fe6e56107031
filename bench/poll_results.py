"""Poll results benchmark (#16 §3): the results of a round with 100,000 answers, on SQLite.

    uv run python bench/poll_results.py                 # 100,000 answers (about 20 s to seed)
    uv run python bench/poll_results.py --answers 20000

The round (the four question types of bench/poll.py) is written with plain sqlite3 for speed:
100,000 invited collaborators, each one's invitation and answers. Timed: `round_results` and the
leaders' results text. Target: round_results under 1 s, worst of 3 runs. The counts are checked
against a tally of the answers written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.poll import poll_definition  # noqa: E402
from bot.app import build_core, seed_demo  # noqa: E402
from bot.config import Settings  # noqa: E402
from handlers.polldefs import PollDef  # noqa: E402
from reports.polls import render_results  # noqa: E402
from storage.pollresults import round_results  # noqa: E402

TARGET_S = 1.0
FMT = "%Y-%m-%d %H:%M:%S.%f"
MOODS = ["stable", "worried", "unsettled"]
CONCERNS = ["jobs", "reform", "prices", "corruption"]


def seed(db: Path, answers: int, now: datetime) -> Counter:
    """A closed round of the bench poll with `answers` responses; the tally written."""
    conn = sqlite3.connect(db)
    units = [r[0] for r in conn.execute("SELECT id FROM org_unit")]
    defn = PollDef.model_validate(poll_definition(now.replace(tzinfo=None)))
    stamp = now.strftime(FMT)
    body = json.dumps(defn.model_dump(mode="json"), ensure_ascii=False)
    conn.execute(
        "INSERT INTO poll (id, key, kind, definition, version, active, created_at, updated_at)"
        " VALUES (1, ?, 'poll', ?, 1, 1, ?, ?)",
        (defn.id, body, stamp, stamp),
    )
    conn.execute(
        "INSERT INTO poll_round (id, poll_id, number, period, poll_version, definition, opens_at,"
        " due_at, closes_at, status) VALUES (1, 1, 1, '2026-11', 1, ?, ?, ?, ?, 'closed')",
        (body, stamp, stamp, stamp),
    )
    rng = random.Random(5)
    tally: Counter = Counter()
    people, invites, responses = [], [], []
    for i in range(1, answers + 1):
        unit = units[i % len(units)]
        people.append((i, f"CTV {i}", "collaborator", unit, "vi", "", 0, stamp))
        invites.append((i, 1, i, unit, stamp, stamp))
        given = {
            "mood": rng.choice(MOODS),
            "concerns": rng.sample(CONCERNS, rng.randint(1, 3)),
            "confidence": rng.randint(1, 5),
            "comment": f"Ý kiến số {i}",
        }
        tally.update([f"mood={given['mood']}", f"confidence={given['confidence']}"])
        tally.update(f"concerns={c}" for c in given["concerns"])
        responses.append((i, 1, i, unit, json.dumps(given, ensure_ascii=False), stamp, stamp))
    conn.executemany(
        "INSERT INTO person (id, display_name, role, unit_id, locale, last_channel, can_reveal,"
        " created_at) VALUES (?,?,?,?,?,?,?,?)",
        people,
    )
    conn.executemany(
        "INSERT INTO poll_invite (id, round_id, person_id, unit_id, invited_at, responded_at)"
        " VALUES (?,?,?,?,?,?)",
        invites,
    )
    conn.executemany(
        "INSERT INTO poll_response (id, round_id, person_id, unit_id, answers, submitted_at,"
        " updated_at) VALUES (?,?,?,?,?,?,?)",
        responses,
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return tally


async def main(answers: int, skip_text: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite+aiosqlite:///{db}",
            data_dir=Path(tmp),
            attachments_dir=Path(tmp) / "att",
            telegram_bot_token="",
        )
        core = await build_core(settings)
        await seed_demo(core)
        now = datetime.now(UTC) - timedelta(days=1)
        t0 = time.perf_counter()
        tally = await asyncio.to_thread(seed, db, answers, now)
        print(f"seeded a round with {answers:,} answers in {time.perf_counter() - t0:.1f} s")
        t = core.translations("vi")
        runs, texts = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            async with core.sessions() as session:
                results = await round_results(session, 1)
            runs.append(time.perf_counter() - t0)
        if not skip_text:
            t0 = time.perf_counter()
            text = render_results(t, results, settings.tz, now)
            texts.append(time.perf_counter() - t0)
            print(
                f"results text (its free-text themes included): {texts[0] * 1000:.0f} ms, "
                f"{len(text)} chars"
            )
        await core.close()
    got = Counter({f"{q.id}={k}": n for q in results.questions for k, n in q.counts.items()})
    checked = got == tally and results.responded == answers
    ok = checked and max(runs) < TARGET_S
    print(
        f"round_results: best {min(runs) * 1000:.0f} ms, worst "
        f"{max(runs) * 1000:.0f} ms (target < {TARGET_S * 1000:.0f} ms); counts "
        f"{'match' if checked else 'DIFFER from'} the answers written {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--skip-text", action="store_true", help="time round_results only")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.answers, args.skip_text)))
