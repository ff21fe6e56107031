"""The slowest tests start first, spread over the xdist workers, so the run does not end with
one worker alone on a minute-long test that happened to be collected last.

tests/slowest.txt lists each slow test function (parameters left off) with its seconds, as
measured on the 2-core machine. To refresh it from a run:
`uv run pytest --durations=0 -q > run.txt; python -m tests.slowest run.txt > tests/slowest.txt`.
A test missing from the list only loses its head start.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest

LIST = Path(__file__).with_name("slowest.txt")
THRESHOLD = 10.0  # seconds (on a loaded machine): quicker tests keep their place
DURATION = re.compile(r"^([\d.]+)s (setup|call|teardown)\s+(\S+?)(?:\[.*)?$")


def known_seconds(path: Path = LIST) -> dict[str, float]:
    """Test function id (file::name) -> seconds, from the list."""
    seconds: dict[str, float] = {}
    if not path.exists():
        return seconds
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            value, test = line.split(maxsplit=1)
            seconds[test.strip()] = float(value)
    return seconds


def function_id(item: pytest.Item) -> str:
    return item.nodeid.split("[", 1)[0]


def spread(items: list[pytest.Item], workers: int, seconds: dict[str, float]) -> list[pytest.Item]:
    """The items reordered for `workers` workers under --dist worksteal, which first hands
    worker i the i-th contiguous share of the list and later moves work from the end of a
    worker's queue: each share starts with slow tests whose total is about even."""
    slow = sorted(
        (item for item in items if seconds.get(function_id(item), 0.0) >= THRESHOLD),
        key=lambda item: -seconds[function_id(item)],
    )
    if workers < 2 or not slow:
        return items
    chosen = {id(item) for item in slow}
    rest = [item for item in items if id(item) not in chosen]
    heads: list[list[pytest.Item]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for item in slow:  # the slowest first, each to the least loaded worker
        least = loads.index(min(loads))
        heads[least].append(item)
        loads[least] += seconds[function_id(item)]
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for worker, head in enumerate(heads):
        share = remaining // (workers - worker)  # as worksteal splits the list
        fill = max(0, share - len(head))
        ordered += head + rest[:fill]
        rest = rest[fill:]
        remaining -= len(head) + fill
    return ordered + rest


def from_durations(text: str) -> dict[str, float]:
    """Seconds per test function from pytest's --durations report (setup, call and teardown
    added up; a parametrized function counts its slowest case)."""
    per_item: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        found = DURATION.match(line.strip())
        if found:
            per_item[line.strip().split(None, 2)[2]] += float(found.group(1))
    per_function: dict[str, float] = {}
    for nodeid, value in per_item.items():
        name = nodeid.split("[", 1)[0]
        per_function[name] = max(per_function.get(name, 0.0), value)
    return per_function


if __name__ == "__main__":
    measured = from_durations(Path(sys.argv[1]).read_text(encoding="utf-8"))
    print("# seconds  test (see tests/slowest.py)")
    for name, value in sorted(measured.items(), key=lambda pair: -pair[1]):
        if value >= THRESHOLD:
            print(f"{value:7.1f}  {name}")
