"""validate_bundle: fhir.resources' structural check of a Bundle plus the FHIR rules it does not cover."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bedside.errors import BedsideError


def validate_bundle(bundle: Any) -> None:
    """Raise BedsideError unless ``bundle`` is a valid FHIR R4 Bundle (structure, types, cardinality) whose
    references, full URLs and extensions also keep the rules bedside's output relies on (bdl-7, ext-1, obs-6).

    The structural check uses fhir.resources' R4B models: for every element bedside writes they equal R4's
    (see the note in pyproject.toml). Messages name paths, never values, so no note text reaches a log.
    """
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        shown = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:3])
        raise BedsideError(f"not a valid FHIR R4 Bundle ({len(errors)} problem(s)): {shown}") from None
    problems = _rule_problems(bundle)
    if problems:
        raise BedsideError(f"not a valid FHIR R4 Bundle: {'; '.join(problems[:3])}")


# -- rules the structural check does not cover ------------------------------------------------------------


def _rule_problems(bundle: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    entries = bundle.get("entry") or []
    urls = [e.get("fullUrl") for e in entries]
    if len(set(urls)) != len(urls):
        problems.append("bdl-7: two entries share a fullUrl")
    known = set(urls)
    for n, entry in enumerate(entries):
        resource = entry.get("resource") or {}
        full_url = entry.get("fullUrl") or ""
        if full_url.startswith("urn:uuid:") and resource.get("id") not in (None, full_url[9:]):
            problems.append(f"entry.{n}: resource id differs from its urn:uuid fullUrl")
        for ref in _references(resource):
            if ref.startswith("urn:uuid:") and ref not in known:
                problems.append(f"entry.{n}: reference {ref} is not in the bundle")
        for ext in _extensions(resource):
            has_value = any(k.startswith("value") for k in ext)
            if has_value == bool(ext.get("extension")):
                problems.append(f"entry.{n}: ext-1: extension {ext.get('url')} needs a value or sub-extensions")
        if resource.get("resourceType") == "Observation" and "dataAbsentReason" in resource:
            if any(k.startswith("value") for k in resource):
                problems.append(f"entry.{n}: obs-6: dataAbsentReason with a value")
    return problems


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _references(resource: dict[str, Any]) -> Iterator[str]:
    for node in _walk(resource):
        if isinstance(node.get("reference"), str):
            yield node["reference"]


def _extensions(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for node in _walk(resource):
        for ext in node.get("extension") or ():
            if isinstance(ext, dict):
                yield ext
