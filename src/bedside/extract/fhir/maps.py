"""Names, code systems, mapping tables (resources/fhir/mappings.json) and extension helpers the FHIR modules share."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from bedside.clinical.schema import Attribute, Entity, Trait
from bedside.errors import ConfigError

FHIR_VERSION = "4.0.1"
BASE = "https://bedside.dev/fhir"
SPAN_URL = f"{BASE}/StructureDefinition/source-span"
SOURCE_URL = f"{BASE}/StructureDefinition/source-document"
TRAIT_URL = f"{BASE}/StructureDefinition/trait"
ICD_CANDIDATE_URL = f"{BASE}/StructureDefinition/icd10cm-candidate"
NOTE_SHA256_SYSTEM = f"{BASE}/sid/note-sha256"
NOTE_ID_SYSTEM = f"{BASE}/sid/note-id"
TAG_SYSTEM = f"{BASE}/CodeSystem/tag"

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
_HL7 = "http://terminology.hl7.org/CodeSystem/"
MAPPINGS = "resources/fhir/mappings.json"
_DECIMAL = re.compile(r"^(?:\d+(?:\.\d+)?|\.\d+)$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")  # "5,000 units"


# -- the mapping tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Maps:
    data: dict[str, Any]
    frequency_patterns: tuple[re.Pattern[str], ...]
    duration: re.Pattern[str]
    quantity: re.Pattern[str]
    as_needed: re.Pattern[str]
    relatives: re.Pattern[str]
    smoking_skip: tuple[re.Pattern[str], ...]


@cache
def _maps() -> _Maps:
    path = resources.files("bedside").joinpath(MAPPINGS)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        words = sorted((*data["relatives"], *data["as_needed_words"]), key=len, reverse=True)
        return _Maps(
            data=data,
            frequency_patterns=tuple(re.compile(p) for p in data["frequency_patterns"]),
            duration=re.compile(data["duration_pattern"]),
            quantity=re.compile(data["quantity_pattern"], re.IGNORECASE),
            as_needed=re.compile(r"\b(?:" + "|".join(re.escape(w) for w in data["as_needed_words"]) + r")\b"),
            relatives=re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words if w in data["relatives"]) + r")\b",
                                 re.IGNORECASE),
            smoking_skip=tuple(re.compile(p, re.IGNORECASE) for p in data["smoking_status"]["skip_patterns"]),
        )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"FHIR mapping file {MAPPINGS} is not readable JSON: {exc}") from None
    except (KeyError, TypeError, re.error) as exc:
        raise ConfigError(f"FHIR mapping file {MAPPINGS} is malformed: {exc!r}") from None


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def _number(s: str | None) -> int | float | None:
    if s is None:
        return None
    s = s.strip().lower()
    if s in _maps().data["numbers"]:
        return _maps().data["numbers"][s]
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    if not _DECIMAL.match(s):
        return None
    return int(s) if s.isdigit() else float(s)


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


# -- provenance -------------------------------------------------------------------------------------------


def _span(s: Entity | Attribute, kind: str) -> dict[str, Any]:
    return {"url": SPAN_URL, "extension": [
        {"url": "begin", "valueInteger": s.begin_offset}, {"url": "end", "valueInteger": s.end_offset},
        {"url": "text", "valueString": s.text}, {"url": "type", "valueCode": kind},
        {"url": "score", "valueDecimal": s.score},
    ]}


def _trait(t: Trait) -> dict[str, Any]:
    return {"url": TRAIT_URL,
            "extension": [{"url": "name", "valueCode": t.name}, {"url": "score", "valueDecimal": t.score}]}
