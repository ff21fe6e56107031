"""`python -m tests.clocked ARGS`: the `grassroots` command on the test's clock.

The parent test's frozen time is passed in GRASSROOTS_TEST_NOW, so a subprocess agrees with the
test about what "now" is, at any hour the suite runs.
"""

from __future__ import annotations

import gc
import os
import sys
from datetime import datetime
from types import ModuleType

from bot.cli import main


def _time_machine() -> ModuleType:
    """time_machine without the pytest plugin and the date-string parser it loads when it can
    (0.2 s of a `grassroots run` start, dozens of which the suite makes): this process travels
    to a datetime and never runs pytest. Both stay importable for the command afterwards."""
    absent = [name for name in ("pytest", "dateutil.parser") if name not in sys.modules]
    sys.modules.update(dict.fromkeys(absent))  # None: "import X" fails, as if not installed
    try:
        import time_machine
    finally:
        for name in absent:
            del sys.modules[name]
    return time_machine


if __name__ == "__main__":
    # Collections 70 times rarer: the command's imports alone make 340 young and 30 middle
    # collections among 150,000 tracked objects (0.15-0.2 s of a `grassroots run` start, of
    # which the suite makes dozens). Cycles are still collected, only later.
    gc.set_threshold(50_000, 20, 100)
    now = os.environ.get("GRASSROOTS_TEST_NOW")
    if now:
        with _time_machine().travel(datetime.fromisoformat(now), tick=True):
            sys.exit(main())
    sys.exit(main())
