"""The extraction output (issue 3): Comprehend Medical's entity schema with snake_case field names.

``Document.to_dict()`` gives bedside's form (``begin_offset``, ``icd10cm_concepts``);
``Document.to_dict(style="comprehend")`` gives the same content under Comprehend Medical's PascalCase
names (``BeginOffset``, ``ICD10CMConcepts``, ``UnmappedAttributes: [{Type, Attribute}]``) for code
written against that API. Offsets are 0-based code-point offsets into the input, end exclusive.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bedside.errors import InputError

Style = Literal["bedside", "comprehend"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Trait(_Model):
    name: str
    score: float = Field(ge=0, le=1)


class Attribute(_Model):
    id: int
    type: str  # DOSAGE, STRENGTH, ..., TEST_VALUE, TEST_UNIT, ACUITY, DIRECTION, SYSTEM_ORGAN_SITE
    category: str  # the category of the entity this kind of attribute belongs to
    text: str
    begin_offset: int = Field(ge=0)
    end_offset: int = Field(ge=0)
    score: float = Field(ge=0, le=1)
    relationship_score: float = Field(ge=0, le=1)
    traits: list[Trait] = Field(default_factory=list)


class Concept(_Model):
    code: str
    description: str
    score: float = Field(ge=0, le=1)


class Entity(_Model):
    id: int
    text: str
    category: str
    type: str
    begin_offset: int = Field(ge=0)
    end_offset: int = Field(ge=0)
    score: float = Field(ge=0, le=1)
    traits: list[Trait] = Field(default_factory=list)
    attributes: list[Attribute] = Field(default_factory=list)
    # Present (possibly empty) on MEDICAL_CONDITION entities only; the ICD-10-CM linker fills it.
    icd10cm_concepts: list[Concept] | None = None


class Section(_Model):
    name: str
    begin_offset: int = Field(ge=0)
    end_offset: int = Field(ge=0)
    heading_begin_offset: int = Field(ge=0)
    heading_end_offset: int = Field(ge=0)


class Document(_Model):
    entities: list[Entity] = Field(default_factory=list)
    unmapped_attributes: list[Attribute] = Field(default_factory=list)
    sections: list[Section] = Field(default_factory=list)

    def check_offsets(self, text: str) -> None:
        """Raise InputError unless every entity's and attribute's text is ``text[begin:end]``."""
        spans = [*self.entities, *self.unmapped_attributes, *(a for e in self.entities for a in e.attributes)]
        for s in spans:
            if text[s.begin_offset:s.end_offset] != s.text:
                raise InputError(f"span {s.id} ({s.begin_offset}-{s.end_offset}) does not match the input text")

    def to_dict(self, style: Style = "bedside") -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        return _comprehend(data) if style == "comprehend" else data

    def to_json(self, style: Style = "bedside", indent: int | None = None) -> str:
        return json.dumps(self.to_dict(style), ensure_ascii=False, indent=indent)


_SPECIAL = {"icd10cm_concepts": "ICD10CMConcepts", "id": "Id"}


def _pascal(name: str) -> str:
    return _SPECIAL.get(name) or "".join(part.capitalize() for part in name.split("_"))


def _rename(value: Any) -> Any:
    if isinstance(value, dict):
        return {_pascal(k): _rename(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v) for v in value]
    return value


def _comprehend(data: dict[str, Any]) -> dict[str, Any]:
    out = _rename({k: v for k, v in data.items() if k != "unmapped_attributes"})
    # Comprehend wraps each unmapped attribute with the category it would have belonged to.
    out["UnmappedAttributes"] = [{"Type": a["category"], "Attribute": _rename(a)} for a in data["unmapped_attributes"]]
    return out
