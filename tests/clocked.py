"""`python -m tests.clocked ARGS`: the `grassroots` command on the test's clock.

The parent test's frozen time is passed in GRASSROOTS_TEST_NOW, so a subprocess agrees with the
test about what "now" is, at any hour the suite runs.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime

import time_machine

from bot.cli import main

if __name__ == "__main__":
    now = os.environ.get("GRASSROOTS_TEST_NOW")
    if now:
        with time_machine.travel(datetime.fromisoformat(now), tick=True):
            sys.exit(main())
    sys.exit(main())
