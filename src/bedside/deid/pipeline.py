"""The de-identifier: a detector, a mode and a key, applied to one text or to a FHIR Bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bedside.deid import keys
from bedside.deid.detect import Detector, default_detector
from bedside.deid.spans import PhiSpan
from bedside.deid.transform import Mode, apply
from bedside.errors import InputError

MAX_CHARS = 20_000_000  # far above any note; refuses a mistaken multi-GB input before the work starts


@dataclass
class Result:
    text: str
    spans: list[PhiSpan] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "spans": [s.to_dict() for s in self.spans]}


class Deidentifier:
    """``Deidentifier(mode="surrogate", key=...)(text, patient="123")`` -> :class:`Result`.

    ``key``: bytes from a key file (``keys.load_key``); None draws a random one, so surrogates and
    date offsets are consistent within this object's life only.
    """

    def __init__(self, mode: Mode | str = Mode.mask, *, key: bytes | None = None, detector: Detector | None = None,
                 cache_dir: Path | None = None, ner_model: Path | None = None):
        self.mode = Mode(mode)
        self._key = key if key is not None else keys.random_key()
        self._cache_dir = cache_dir
        self.detector: Detector = detector or default_detector(ner_model=ner_model, cache_dir=cache_dir)
        self._surrogates = None

    def __repr__(self) -> str:  # never show the key
        return f"Deidentifier(mode={self.mode.value!r}, detector={type(self.detector).__name__})"

    @property
    def surrogates(self):
        if self._surrogates is None:
            from bedside.deid import vocab
            from bedside.deid.surrogates import Surrogates

            self._surrogates = Surrogates(self._key, vocab.load(self._cache_dir))
        return self._surrogates

    def derive(self, purpose: str, value: str) -> bytes:
        """HMAC-SHA256 of ``value`` under this object's key (for pseudonymous ids); never the key itself."""
        return keys.digest(self._key, purpose, value)

    def offset(self, patient: str | None) -> int:
        return keys.date_offset(self._key, patient or "")

    def detect(self, text: str) -> list[PhiSpan]:
        check_text(text)
        return self.detector(text)

    def __call__(self, text: str, *, patient: str | None = None, mode: Mode | str | None = None) -> Result:
        spans = self.detect(text)
        m = Mode(mode) if mode is not None else self.mode
        out = apply(text, spans, m, self.surrogates if m is Mode.surrogate else None, self.offset(patient))
        return Result(out, spans)


def check_text(text: object) -> None:
    if not isinstance(text, str):
        raise InputError(f"text must be a str, not {type(text).__name__} (decode bytes first)")
    if not text.strip():
        raise InputError("empty text: nothing to de-identify")
    if len(text) > MAX_CHARS:
        raise InputError(f"text has {len(text):,} characters; the limit is {MAX_CHARS:,} (split it first)")

