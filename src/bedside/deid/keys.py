"""The secret key behind surrogates and date shifts, and what is derived from it.

Everything a surrogate or shift depends on is ``HMAC-SHA256(key, purpose + value)``: the same key
gives the same fake name for the same original and the same date offset for the same patient, in
every document and run, while nobody without the key can link a surrogate back. Without a key file
a fresh random key is drawn per run (consistent within that run only). The key itself is never
printed, logged or stored: error messages name the file, not its content.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from pathlib import Path

from bedside.errors import InputError

MIN_KEY_BYTES = 16
# Date offsets: whole weeks (the weekday survives), 53-156 weeks back, so a year on its own always
# changes too; and never within a month of a whole number of years, so "March 1993" does not come out
# as "March 1991" (a month alone would survive).
_WEEKS = tuple(w for w in range(53, 157) if 31 <= (7 * w) % 365 <= 334)


def load_key(path: Path) -> bytes:
    """The key in ``path``: its bytes, without a trailing newline; at least 16 bytes."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"key file not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    data = data.rstrip(b"\r\n")
    if len(data) < MIN_KEY_BYTES:
        raise InputError(
            f"key file {path} holds {len(data)} bytes; use at least {MIN_KEY_BYTES} random bytes "
            "(e.g. `openssl rand -hex 32 > key`)"
        )
    return data


def random_key() -> bytes:
    return secrets.token_bytes(32)


def normalize(value: str) -> str:
    """How originals are compared: Unicode NFKC, case-folded, inner white space collapsed."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def digest(key: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(key, f"{purpose}\x00{normalize(value)}".encode(), hashlib.sha256).digest()


def seed(key: bytes, purpose: str, value: str) -> int:
    return int.from_bytes(digest(key, purpose, value)[:8], "big")


def date_offset(key: bytes, patient: str) -> int:
    """Days to add to every date of ``patient`` (negative: dates move into the past)."""
    return -7 * _WEEKS[seed(key, "date-offset", patient) % len(_WEEKS)]
