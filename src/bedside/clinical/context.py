"""ConText: negation, history, hypothesis, family and uncertainty from trigger phrases and their scope.

The algorithm of Chapman et al. (2009) as medspaCy implements it, over bedside tokens: a trigger acts
on entities after it (FORWARD), before it (BACKWARD) or both, within its sentence; its scope ends at a
terminator ("but") that ends its category, at the next trigger of its own category, or after
``max_scope`` tokens. Rules and trait scores live in ``context_rules.json``. Scopes are computed only
for sentences that hold an entity, and every lookup is bounded by the largest scope, so a 5 MB note
with one endless "sentence" stays linear.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bedside.clinical import resources
from bedside.clinical.doc import Doc
from bedside.clinical.spans import TOKEN_RE, PhraseMatcher, Span, expand, key
from bedside.errors import ConfigError

FORWARD, BACKWARD, BIDIRECTIONAL, TERMINATE, PSEUDO = "FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO"
_DIRECTIONS = {FORWARD, BACKWARD, BIDIRECTIONAL, TERMINATE, PSEUDO}
_FILE = "context_rules.json"


@dataclass(frozen=True, slots=True)
class Category:
    name: str  # ConText's: NEGATED_EXISTENCE, HISTORICAL, ...
    trait: str  # the output's: NEGATION, PAST_HISTORY, ...
    score: float
    applies_to: frozenset[str]  # entity categories


@dataclass(frozen=True, slots=True)
class Rule:
    category: str
    direction: str
    max_scope: int
    applies_to: frozenset[str] | None = None
    terminates: frozenset[str] = frozenset()
    at_clause: bool = False  # ends a scope at the clause break before it, or not at all (see _clause_end)

    def ends(self, other: Rule) -> bool:
        """Whether this trigger, met inside ``other``'s scope, ends it."""
        if self.direction == TERMINATE:
            return "*" in self.terminates or other.category in self.terminates
        return self.category == other.category


@dataclass(slots=True)
class Modifier:
    rule: Rule
    lo: int  # trigger tokens [lo, hi)
    hi: int
    begin: int  # trigger characters
    end: int
    forward: tuple[int, int] | None = None  # token scopes [a, b)
    backward: tuple[int, int] | None = None


# What separates clauses in a list of findings, and what continues the list ("no edema, rash or murmur").
_CLAUSE_BREAKS = frozenset({",", ";"})
_CONJUNCTIONS = frozenset({"or", "and", "nor", "/"})


def _clause_end(doc: Doc, lo: int, hi: int) -> int | None:
    """Where an ``at_clause`` terminator at token ``hi`` ends a forward scope that starts at ``lo``: the
    last comma or semicolon before it, when no conjunction follows that break. "No fever, cough present":
    the scope of "no" ends at the comma; "No edema, rash or murmur present" stays one negated list, and
    "No cough present" has no break, so the terminator does nothing (None)."""
    keys = doc.tokens.keys
    for k in range(hi - 1, lo - 1, -1):
        if keys[k] in _CONJUNCTIONS:
            return None
        if keys[k] in _CLAUSE_BREAKS:
            return k
    return None


class ConText:
    def __init__(self, folder: Path | None = None):
        data = resources.load(_FILE, folder)
        self.default_scope = int(data.get("max_scope", 60))
        self.decay = float(data.get("score_decay", 0.0))
        self.floor = float(data.get("score_floor", 0.5))
        self.section_score = float(data.get("section_score", 0.9))
        self.categories: dict[str, Category] = {}
        for name, c in resources.require(data, "categories", _FILE).items():
            self.categories[name] = Category(name, c["trait"], float(c["score"]), frozenset(c["applies_to"]))
        # Which entity categories each output trait applies to: section traits use the same table.
        self.trait_applies = {c.trait: c.applies_to for c in self.categories.values()}
        self.matcher: PhraseMatcher[Rule] = PhraseMatcher()
        self.widest = 0
        seen: dict[tuple[str, ...], str] = {}
        for raw in resources.require(data, "rules", _FILE):
            rule = self._rule(raw)
            self.widest = max(self.widest, rule.max_scope)
            for phrase in raw["phrases"]:
                for spelled in expand(phrase):
                    k = tuple(key(t) for t in TOKEN_RE.findall(spelled))
                    if k in seen:
                        raise ConfigError(f"{_FILE}: trigger '{spelled}' is listed twice ({seen[k]}, {rule.category})")
                    seen[k] = rule.category
                    self.matcher.add(spelled, rule)

    def _rule(self, raw: dict) -> Rule:
        direction = raw.get("direction", "")
        category = raw.get("category", "")
        if direction not in _DIRECTIONS:
            raise ConfigError(f"{_FILE}: unknown direction '{direction}'")
        if direction not in (TERMINATE, PSEUDO) and category not in self.categories:
            raise ConfigError(f"{_FILE}: rule category '{category}' is not in 'categories'")
        applies = raw.get("applies_to")
        return Rule(category, direction, int(raw.get("max_scope", self.default_scope)),
                    frozenset(applies) if applies else None, frozenset(raw.get("terminates", ())),
                    bool(raw.get("at_clause", False)))

    def modifiers(self, doc: Doc, sentence: int) -> list[Modifier]:
        """The triggers of one sentence, with their scopes."""
        slo, shi = doc.sentence_tokens(sentence)
        mods = [Modifier(m.payload, m.lo, m.hi, m.begin, m.end)
                for m in self.matcher.finditer(doc.tokens, slo, shi) if m.payload.direction != PSEUDO]
        for i, t in enumerate(mods):
            rule = t.rule
            if rule.direction in (FORWARD, BIDIRECTIONAL):
                end = min(shi, t.hi + rule.max_scope)
                for j in range(i + 1, len(mods)):  # indices, not a slice: a sentence may hold thousands
                    u = mods[j]
                    if u.lo >= end:
                        break
                    if u.rule.ends(rule) and u.rule.direction != BACKWARD:
                        cut = _clause_end(doc, t.hi, u.lo) if u.rule.at_clause else u.lo
                        if cut is None:
                            continue
                        end = cut
                        break
                t.forward = (t.hi, end)
            if rule.direction in (BACKWARD, BIDIRECTIONAL):
                start = max(slo, t.lo - rule.max_scope)
                for j in range(i - 1, -1, -1):
                    u = mods[j]
                    if u.hi <= start:
                        break
                    if u.rule.ends(rule) and u.rule.direction != FORWARD:
                        start = u.hi
                        break
                t.backward = (start, t.lo)
        return mods

    def traits(self, doc: Doc, spans: Sequence[Span]) -> list[dict[str, float]]:
        """For each span, trait name -> score, from triggers in its sentence and from its section."""
        out: list[dict[str, float]] = [{} for _ in spans]
        cache: dict[int, tuple[list[Modifier], list[int]]] = {}
        for idx, span in enumerate(spans):
            found = out[idx]
            section = doc.section(span.begin)
            for trait in section.kind.traits if section else ():
                if span.category in self.trait_applies.get(trait, ()):
                    found[trait] = max(found.get(trait, 0.0), self.section_score)
            si = doc.sentence(span.begin)
            if si is None:
                continue
            if si not in cache:
                mods = self.modifiers(doc, si)
                cache[si] = (mods, [m.lo for m in mods])
            mods, starts = cache[si]
            lo, hi = doc.tokens.range(span.begin, span.end)
            first = bisect_left(starts, lo - self.widest - self.matcher.longest)
            last = bisect_right(starts, hi + self.widest)
            for m in mods[first:last]:
                self._apply(m, span, lo, hi, found)
        return out

    def _apply(self, m: Modifier, span: Span, lo: int, hi: int, found: dict[str, float]) -> None:
        rule = m.rule
        if rule.direction in (TERMINATE, PSEUDO):
            return
        category = self.categories[rule.category]
        if span.category not in (rule.applies_to or category.applies_to):
            return
        if m.begin < span.end and span.begin < m.end:
            # A trigger that overlaps the entity ("no acute" before "acute pulmonary disease") still
            # applies when it starts before it (forward) or ends after it (backward); one inside the
            # entity's own words does not.
            if not ((rule.direction in (FORWARD, BIDIRECTIONAL) and m.begin < span.begin)
                    or (rule.direction in (BACKWARD, BIDIRECTIONAL) and m.end > span.end)):
                return
            distance = 0
        elif m.forward and m.forward[0] <= lo < m.forward[1]:
            distance = lo - m.hi
        elif m.backward and m.backward[0] < hi <= m.backward[1]:
            distance = m.lo - hi
        else:
            return
        score = round(max(self.floor, category.score - self.decay * distance), 4)
        if score > found.get(category.trait, 0.0):
            found[category.trait] = score
