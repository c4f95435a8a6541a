"""Shift a date as written in a note by a number of days, keeping how it was written.

"7/22" -> "4/30", "2/14/2003" -> "11/23/2001", "Feb 14" -> "Nov 23", "14th of February" -> "23rd of
November", "1992" -> "1990", "'95" -> "'93". Intervals between dates of one patient survive because
every date moves by the same offset. Dates without a year are shifted inside a leap reference year
(so 29 February exists) and written without one. A month or a decade on its own cannot be shifted
without often staying the same, so it is returned as ``None`` like any text not understood as a
date: the caller masks it rather than letting it through.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_ABBR = {m[:3]: i + 1 for i, m in enumerate(_MONTHS)} | {"sept": 9}
_FULL = {m: i + 1 for i, m in enumerate(_MONTHS)}
_REF_YEAR = 2000  # a leap year

_NUMERIC = re.compile(r"^(\d{1,4})([/.-])(\d{1,2})(?:([/.-])(\d{2}|\d{4}))?$")
_ISO = re.compile(r"^(\d{4})([/-])(\d{1,2})\2(\d{1,2})$")
_MONTH_WORD = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?" \
              r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_MD = re.compile(rf"^{_MONTH_WORD}(\.?)(\s*)(\d{{1,2}})(st|nd|rd|th)?(?:(,\s*|\s+)(\d{{4}}|'?\d{{2}}))?$", re.I)
_DM = re.compile(rf"^(\d{{1,2}})(st|nd|rd|th)?(\s+of\s+|\s*)?{_MONTH_WORD}(\.?)(?:(,?\s*)(\d{{4}}|'?\d{{2}}))?$", re.I)
_MY = re.compile(rf"^{_MONTH_WORD}(\.?)([.,]?\s+(?:of\s+)?)(\d{{4}}|'\d{{2}})$", re.I)
_YEAR = re.compile(r"^(')?(\d{4}|\d{2})(')?('?s)?$", re.I)
_ORD = re.compile(r"^(\d{1,2})(st|nd|rd|th)$", re.I)


def _month_number(word: str) -> int:
    w = word.lower()
    return _FULL.get(w) or _ABBR.get(w[:4] if w.startswith("sept") else w[:3], 0)


def _month_word(month: int, like: str) -> str:
    full = _MONTHS[month - 1]
    if like.lower() in _FULL:
        out = full
    elif like.lower().startswith("sept") and month == 9:
        out = "sept"
    else:
        out = full[:3]
    return _case_like(out, like)


def _case_like(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    if like[:1].isupper():
        return word.capitalize()
    return word


def _ordinal(day: int, like: str) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return suffix.upper() if like.isupper() else suffix


def _pad(value: int, like: str) -> str:
    """Zero-padded like the original ("03" -> "07"), else plain ("3" -> "7", "14" -> "8")."""
    return f"{value:0{len(like)}d}" if like.startswith("0") else str(value)


def _year_text(year: int, like: str) -> str:
    return str(year) if len(like.lstrip("'")) == 4 else f"{year % 100:02d}"


def _full_year(text: str) -> int:
    y = int(text.lstrip("'"))
    if len(text.lstrip("'")) == 4:
        return y
    return 1900 + y if y >= 30 else 2000 + y


def _shift(y: int | None, m: int, d: int, days: int) -> date:
    return date(y if y is not None else _REF_YEAR, m, d) + timedelta(days=days)


def _shift_year(year: int, days: int) -> int:
    return (date(year, 7, 1) + timedelta(days=days)).year


def shift(text: str, days: int) -> str | None:
    """``text`` shifted by ``days``, in the same style; None if it is not a date this module reads."""
    s = text.strip()
    try:
        return _shift_text(s, days)
    except (ValueError, OverflowError):
        return None


def _shift_text(s: str, days: int) -> str | None:
    if m := _ISO.match(s):
        d = _shift(int(m[1]), int(m[3]), int(m[4]), days)
        return f"{d.year}{m[2]}{_pad(d.month, m[3])}{m[2]}{_pad(d.day, m[4])}"
    if m := _NUMERIC.match(s):
        a, sep, b, sep2, y = m.groups()
        if int(a) > 12:
            return None
        if sep2 is None and int(b) > 31:
            # month/year: "8/87"
            year = _full_year(b)
            d = _shift(year, int(a), 15, days)
            return f"{_pad(d.month, a)}{sep}{_year_text(d.year, b)}"
        year = _full_year(y) if y else None
        d = _shift(year, int(a), int(b), days)
        if a.startswith("0") or b.startswith("0"):  # "02/14" is written padded: keep both fields two digits
            out = f"{d.month:02d}{sep}{d.day:02d}"
        else:
            out = f"{d.month}{sep}{d.day}"
        return out + (f"{sep2}{_year_text(d.year, y)}" if y else "")
    if m := _MY.match(s):
        mon, dot, between, y = m.groups()
        d = _shift(_full_year(y), _month_number(mon), 15, days)
        year = f"'{d.year % 100:02d}" if y.startswith("'") else str(d.year)
        return f"{_month_word(d.month, mon)}{dot}{between}{year}"
    if m := _MD.match(s):
        mon, dot, space, day, suf, comma, y = m.groups()
        year = _full_year(y) if y else None
        d = _shift(year, _month_number(mon), int(day), days)
        out = f"{_month_word(d.month, mon)}{dot}{space}{_pad(d.day, day)}{_ordinal(d.day, suf) if suf else ''}"
        if not y:
            return out
        year = f"'{d.year % 100:02d}" if y.startswith("'") else _year_text(d.year, y)
        return f"{out}{comma}{year}"
    if m := _DM.match(s):
        day, suf, of, mon, dot, comma, y = m.groups()
        year = _full_year(y) if y else None
        d = _shift(year, _month_number(mon), int(day), days)
        out = f"{_pad(d.day, day)}{_ordinal(d.day, suf) if suf else ''}{of or ''}{_month_word(d.month, mon)}{dot}"
        return out + (f"{comma}{_year_text(d.year, y)}" if y else "")
    if m := _ORD.match(s):
        d = _shift(None, 1, int(m[1]), days)  # a day of an unknown month: keep it a plausible day
        return f"{d.day}{_ordinal(d.day, m[2])}"
    if m := _YEAR.match(s):
        pre, y, post, decade = m.groups()
        year = _shift_year(_full_year(y), days)
        if decade:  # "1980s": a decade moves only by whole decades' worth of the shift
            return None
        return f"{pre or ''}{_year_text(year, y)}{post or ''}"
    return None
