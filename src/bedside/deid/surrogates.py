"""Realistic stand-ins for PHI, the same for the same original under the same key.

Each surrogate is chosen by a Faker instance seeded with ``HMAC(key, type + normalized original)``,
so "Mary Smith" gets one fake name wherever she appears, in every note de-identified with the same
key. Names are replaced word by word ("Mr. Nicholson" and "John Nicholson" keep one surname).
Numbers (phone, record, account numbers...) keep their layout, each digit and letter replaced.
The case of the original is copied ("HEALEY" -> "WARD"). A surrogate never equals its original.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bedside.deid import dateshift, keys
from bedside.deid.vocab import Vocabulary

_DIGITS = "0123456789"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")


def _case_like(value: str, like: str) -> str:
    letters = [c for c in like if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and len(letters) > 1:
        return value.upper()
    if letters and all(c.islower() for c in letters):
        return value.lower()
    return value


class Surrogates:
    def __init__(self, key: bytes, vocab: Vocabulary | None = None, locale: str = "en_US"):
        from faker import Faker

        self.key = key
        self.vocab = vocab
        self.fake = Faker(locale)
        self.by_type: dict[str, Callable[[str], str]] = {
            "NAME": self.name, "PROFESSION": lambda t: self._pick("PROFESSION", t, self.fake.job),
            "LOCATION": lambda t: self._pick("LOCATION", t, self.fake.city),
            "HOSPITAL": self.hospital,
            "ADDRESS": lambda t: self._pick("ADDRESS", t, self.fake.street_address),
            "EMAIL": lambda t: self._pick("EMAIL", t, lambda: f"{self.fake.user_name()}@example.org"),
            "URL": lambda t: self._pick("URL", t, lambda: f"https://{self.fake.domain_word()}.example.org/"),
            "AGE": lambda t: "90+",
        }

    def _seeded(self, kind: str, original: str, attempt: int = 0) -> None:
        self.fake.seed_instance(keys.seed(self.key, f"surrogate:{kind}:{attempt}", original))

    def _pick(self, kind: str, original: str, make: Callable[[], str]) -> str:
        for attempt in range(8):
            self._seeded(kind, original, attempt)
            value = _case_like(make(), original)
            if keys.normalize(value) != keys.normalize(original):
                return value
        return f"[{kind}]"

    def name_word(self, word: str) -> str:
        if len(word) == 1:  # an initial
            self._seeded("INITIAL", word)
            letter = self.fake.random_element([c for c in _LETTERS.upper() if c != word.upper()])
            return letter.lower() if word.islower() else letter
        first = self.vocab is not None and word.lower() in self.vocab.first_names \
            and word.lower() not in self.vocab.last_names
        return self._pick("FIRST" if first else "LAST", word, self.fake.first_name if first else self.fake.last_name)

    def name(self, text: str) -> str:
        return _NAME_WORD.sub(lambda m: self.name_word(m.group()), text)

    def hospital(self, text: str) -> str:
        return _NAME_WORD.sub(lambda m: self._pick("PLACE", m.group(), self.fake.last_name), text)

    def characters(self, kind: str, text: str) -> str:
        """Same layout, every digit and letter replaced: "555-978-4581" -> "283-106-7745"."""
        for attempt in range(8):
            self._seeded(kind, text, attempt)
            out = []
            for c in text:
                if c.isdigit():
                    out.append(self.fake.random_element(_DIGITS))
                elif c.isalpha() and c.isascii():
                    letter = self.fake.random_element(_LETTERS)
                    out.append(letter.upper() if c.isupper() else letter)
                else:
                    out.append(c)
            value = "".join(out)
            if value != text:
                return value
        return f"[{kind}]"

    def date(self, text: str, offset_days: int) -> str:
        shifted = dateshift.shift(text, offset_days)
        return shifted if shifted is not None and shifted != text.strip() else "[DATE]"

    def __call__(self, span_type: str, text: str) -> str:
        make = self.by_type.get(span_type)
        return make(text) if make is not None else self.characters(span_type, text)
