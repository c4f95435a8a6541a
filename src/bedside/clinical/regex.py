"""Case-insensitive regexes that stay fast: they run on a lower-cased copy of the note.

``re.IGNORECASE`` turns off the literal-prefix search of Python's regex engine (about 10x slower
on our patterns). Data-file patterns are therefore written in lower case and matched, without the
flag, against ``text.lower()`` whenever lower-casing keeps every offset (it does unless the text holds
'İ'-like characters that expand); otherwise the flagged twin runs on the original text. Either way
offsets refer to the original text; take text from the original, not from ``match.group()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bedside.errors import ConfigError

_ESCAPE_OR_GROUP_NAME = re.compile(r"\\.|\(\?P[<=]")


def fold(text: str) -> str | None:
    """The text as matched: lower case, typographic apostrophe as ASCII; None if offsets would move."""
    folded = text.lower()
    return folded.replace("\u2019", "'") if len(folded) == len(text) else None


class Rx:
    def __init__(self, pattern: str, where: str):
        if any(c.isupper() for c in _ESCAPE_OR_GROUP_NAME.sub("", pattern)):
            raise ConfigError(f"{where}: write patterns in lower case (matching ignores case)")
        try:
            self.fast = re.compile(pattern)
            self.slow = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ConfigError(f"bad regular expression in {where}: {exc}") from None
        self.groupindex = self.fast.groupindex

    def _pick(self, text: str, folded: str | None) -> tuple[re.Pattern[str], str]:
        return (self.fast, folded) if folded is not None else (self.slow, text)

    def finditer(
        self, text: str, folded: str | None, pos: int = 0, endpos: int | None = None,
    ) -> Iterator[re.Match[str]]:
        rx, s = self._pick(text, folded)
        return rx.finditer(s, pos, len(s) if endpos is None else endpos)

    def match(self, text: str, folded: str | None, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        rx, s = self._pick(text, folded)
        return rx.match(s, pos, len(s) if endpos is None else endpos)

    def search(self, text: str, folded: str | None, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        rx, s = self._pick(text, folded)
        return rx.search(s, pos, len(s) if endpos is None else endpos)
