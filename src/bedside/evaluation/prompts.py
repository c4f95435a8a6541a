"""From a task spec and an item to the exact text the model sees, and the few-shot examples in it.

Layout: [preamble] [shot] ... [shot] [question], joined by ``shot_separator``; the system message
goes separately so each backend places it the way its chat template expects. One user message
(not a fake multi-turn chat) keeps the prompt identical across chat and raw-completion models.

Few-shot examples never include the evaluated item, nor any item with the same input (datasets
have duplicates). ``fixed`` shuffles the pool once with the run's seed, so every item sees the
same examples unless one of them is the item itself; ``similar`` picks the pool items nearest to
the item by embedding cosine (retrieval-augmented few-shot).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bedside.errors import InputError
from bedside.evaluation.loaders import Item
from bedside.evaluation.spec import TaskSpec


@dataclass(frozen=True)
class Prompt:
    system: str | None
    text: str
    shot_ids: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        payload = f"{self.system or ''}\x00{self.text}"
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def choices_for(spec: TaskSpec, item: Item) -> tuple[str, ...]:
    if spec.output.choices == "options":
        return tuple(item.options or ())
    return tuple(spec.output.choices or ())


def answer_text(gold: Any, answer: str | None = None) -> str:
    """The gold as a worked example shows it: the item's own rendering (``Item.answer``) when it has one."""
    if answer is not None:
        return answer
    return ", ".join(map(str, gold)) if isinstance(gold, list) else str(gold)


def render(template: str, spec: TaskSpec, item: Item | None, *, answer: str | None = None) -> str:
    values: dict[str, str] = {}
    if item is not None:
        values.update(item.fields)
        if item.options:
            values["options"] = "\n".join(
                spec.prompt.option_format.format(key=k, text=v) for k, v in item.options.items()
            )
    if isinstance(spec.output.choices, list):
        values["labels"] = ", ".join(spec.output.choices)
    if answer is not None:
        values["answer"] = answer
    try:
        return template.format_map(values)
    except KeyError as exc:
        where = f"item {item.id} ({item.source})" if item is not None else "the preamble"
        raise InputError(
            f"task '{spec.name}': the template uses {{{exc.args[0]}}} but {where} has no such field"
        ) from exc


def build_prompt(spec: TaskSpec, item: Item, shots: Sequence[Item] = ()) -> Prompt:
    p = spec.prompt
    parts = [render(p.preamble, spec, None)] if p.preamble else []
    parts += [render(p.shot_template, spec, s, answer=answer_text(s.gold, s.answer)) for s in shots]
    parts.append(render(p.template, spec, item))
    system = render(p.system, spec, None) if p.system else None
    return Prompt(system=system, text=p.shot_separator.join(parts), shot_ids=tuple(s.id for s in shots))


def _usable(candidate: Item, item: Item) -> bool:
    return candidate.id != item.id and candidate.input_sha256 != item.input_sha256


class FixedShots:
    def __init__(self, pool: Sequence[Item], k: int, seed: int):
        self.order = list(pool)
        random.Random(seed).shuffle(self.order)
        self.k = k

    def select(self, item: Item) -> list[Item]:
        shots: list[Item] = []
        for candidate in self.order:
            if len(shots) == self.k:
                break
            if _usable(candidate, item):
                shots.append(candidate)
        return shots


class SimilarShots:
    """Nearest pool items by cosine of unit-length embeddings (``embed`` returns normalized vectors)."""

    def __init__(self, pool: Sequence[Item], k: int, embed: Callable[[list[str]], list[list[float]]],
                 text_of: Callable[[Item], str]):
        self.pool = list(pool)
        self.k = k
        self.embed = embed
        self.text_of = text_of
        self.vectors = embed([text_of(i) for i in self.pool]) if self.pool else []

    def select(self, item: Item) -> list[Item]:
        query = self.embed([self.text_of(item)])[0]
        scored = sorted(
            ((-sum(a * b for a, b in zip(query, vec, strict=True)), n) for n, vec in enumerate(self.vectors)),
        )
        shots: list[Item] = []
        for _, n in scored:
            if len(shots) == self.k:
                break
            if _usable(self.pool[n], item):
                shots.append(self.pool[n])
        return shots
