"""De-identification of text that is about to leave this machine.

Any feature that sends note text elsewhere calls this first: the runtime for requests to a model
endpoint outside the machine (``bedside.runtime.outbound``), training-data preparation before
examples go to a larger model. The mode comes from ``Settings.outbound_deid_mode`` (mask by
default); ``surrogate`` uses ``Settings.deid_key_file`` (without one, a random key per process).

    from bedside.deid.guard import for_outbound, deidentify_messages
    safe = for_outbound(note, settings)
    safe_messages = deidentify_messages(messages, settings)   # Message objects or {"role", "content"} dicts

A failure raises :class:`DeidentificationError`, whose message is bedside's own or the error class
(never the text); the caller must then send nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bedside.deid.spans import PhiSpan
from bedside.deid.transform import Mode, apply
from bedside.errors import BedsideError, ConfigError, DeidentificationError

if TYPE_CHECKING:
    from bedside.config import Settings
    from bedside.deid.pipeline import Deidentifier

M = TypeVar("M")


# Texts de-identified together are joined by a paragraph break, which no pattern or name spans.
SEPARATOR = "\n\n"


class Guard:
    """A de-identifier bound to one mode and key, built once and reused for every outbound text."""

    def __init__(self, deidentifier: Deidentifier):
        self.deidentifier = deidentifier

    @property
    def mode(self) -> str:
        return self.deidentifier.mode.value

    def text(self, text: str, *, patient: str | None = None) -> str:
        return self.texts([text], patient=patient)[0]

    def texts(self, texts: Sequence[str], *, patient: str | None = None) -> list[str]:
        """Texts of one request, de-identified together.

        Detection runs once over all of them, so a name found with evidence in one ("his wife Mary")
        is also caught where it stands bare in another ("Phone Mary."), as within a single note.
        """
        for t in texts:
            if not isinstance(t, str):
                raise DeidentificationError(f"cannot de-identify a {type(t).__name__}; nothing was sent")
        if not any(t.strip() for t in texts):
            return list(texts)  # nothing to find; the de-identifier itself refuses empty text
        try:
            return self._apply(list(texts), patient)
        except BedsideError as exc:  # bedside's own messages carry no note text
            raise DeidentificationError(f"de-identification failed: {exc.message}; nothing was sent") from None
        except Exception as exc:  # noqa: BLE001 - a library's message may echo the text: keep the class only
            raise DeidentificationError(
                f"de-identification failed ({type(exc).__name__}); nothing was sent"
            ) from None

    def messages(self, messages: Sequence[M], *, patient: str | None = None) -> list[M]:
        """Each message's content de-identified (roles unchanged); the same kind of object comes back."""
        contents = [_content(m) for m in messages]
        present = [c for c in contents if c is not None]
        cleaned = iter(self.texts(present, patient=patient))
        out: list[Any] = []
        for m, content in zip(messages, contents, strict=True):
            if content is None:
                out.append(dict(m) if isinstance(m, Mapping) else m)
            elif isinstance(m, Mapping):
                out.append({**m, "content": next(cleaned)})
            else:
                out.append(replace(m, content=next(cleaned)))
        return out

    def _apply(self, texts: list[str], patient: str | None) -> list[str]:
        d = self.deidentifier
        spans = d.detect(SEPARATOR.join(texts))
        surrogates = d.surrogates if d.mode is Mode.surrogate else None
        offset = d.offset(patient)
        out, start = [], 0
        for t in texts:
            end = start + len(t)
            # A span that crosses a separator (it should not) is cut at it: both parts are replaced.
            mine = [PhiSpan.of(t, max(s.begin, start) - start, min(s.end, end) - start, s.type, s.score, s.source)
                    for s in spans if s.begin < end and s.end > start]
            out.append(apply(t, mine, d.mode, surrogates, offset))
            start = end + len(SEPARATOR)
        return out


def _content(message: Any) -> Any:
    return message.get("content") if isinstance(message, Mapping) else message.content


def guard(settings: Settings) -> Guard:
    """The guard for ``settings`` (cached per mode, key file and cache folder)."""
    return _guard(settings.outbound_deid_mode, settings.deid_key_file, settings.cache_dir)


def for_outbound(text: str, settings: Settings, *, patient: str | None = None) -> str:
    """``text`` de-identified for sending outside this machine; raises DeidentificationError on failure."""
    return guard(settings).text(text, patient=patient)


def deidentify_messages(messages: Sequence[M], settings: Settings, *, patient: str | None = None) -> list[M]:
    """Chat messages (``Message`` or ``{"role", "content"}``) with every content de-identified."""
    return guard(settings).messages(messages, patient=patient)


@lru_cache(maxsize=4)
def _guard(mode: str, key_file: Path | None, cache_dir: Path) -> Guard:
    from bedside.deid import keys
    from bedside.deid.pipeline import Deidentifier

    key = None
    if key_file is not None:
        try:
            key = keys.load_key(key_file)
        except BedsideError as exc:  # names the file, never its content
            raise ConfigError(f"deid_key_file: {exc.message}") from None
    return Guard(Deidentifier(mode, key=key, cache_dir=cache_dir))
