"""Reading a typed case action: "PA-0042 1" names a case and the number of one of its actions.

Phone keyboards capitalise, drop or double the dash and add spaces, so `pa-0042 1`, `PA0042 1`,
`PA 42 1` and `PA-0042  1` all mean the same. Anything else is not a typed action, and nothing
here guesses: a text that does not name its case is never applied to one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The code as storage makes it (PA-0042), the dash optional or typed as any dash or dot, then
# the action's number. Digits are ASCII only: a case is never named by look-alike digits.
_CODE_AND_NUMBER = re.compile(
    r"pa\s*[-\u2010-\u2015\u2212_.]?\s*([0-9]{1,9})\s+([0-9]{1,3})[.)]?", re.IGNORECASE
)
_NUMBER = re.compile(r"([0-9]{1,3})[.)]?")


@dataclass(frozen=True)
class TypedAction:
    code: str | None  # None: a bare number, which names no case by itself
    number: int


def case_code(report_number: int) -> str:
    """The code of report number 42: PA-0042, as storage makes it."""
    return f"PA-{report_number:04d}"


def parse_typed_action(text: str) -> TypedAction | None:
    """`PA-0042 1` -> (PA-0042, 1); `1` -> (None, 1); None for anything else."""
    stripped = text.strip()
    if match := _CODE_AND_NUMBER.fullmatch(stripped):
        return TypedAction(case_code(int(match[1])), int(match[2]))
    if match := _NUMBER.fullmatch(stripped):
        return TypedAction(None, int(match[1]))
    return None
