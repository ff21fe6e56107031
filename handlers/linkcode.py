"""The /link code's format: 8 Crockford base32 characters (40 random bits) shown as XXXX-XXXX.

Easy to type on a phone: no I, L, O or U, any case, spaces and dashes ignored, and the letters
people confuse with digits (O, I, L) read as those digits.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 8  # 5 bits each: 40 bits
_MISREAD = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    """A fresh code in its stored form, e.g. `7K2QX9MA`."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def shown(code: str) -> str:
    """The code as a person reads it: `7K2Q-X9MA`."""
    half = LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def normalised(typed: str) -> str | None:
    """What someone typed, in the stored form; None when it cannot be a code at all."""
    code = "".join(typed.split()).replace("-", "").upper().translate(_MISREAD)
    if len(code) != LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code
