"""De-identifying a FHIR R4 Bundle: structured PHI by shape, free text through the text detector.

- HumanName, Address, ContactPoint and Identifier values are replaced wherever they occur (patient,
  practitioner, related person, contact, organisation), following ``resources/deid/fhir.json``;
  geolocation extensions are dropped.
- Every date, dateTime and instant moves by the patient's offset (``keys.date_offset``), keeping its
  precision and time zone, so intervals survive.
- Narrative (``text.div``), notes, ``valueString`` and other free text go through the text
  de-identifier; the bundle's own structured PHI values are also searched for in them.
- Resource ids are replaced by HMAC-derived UUIDs and every ``fullUrl`` and ``reference`` follows,
  so references stay consistent inside the bundle and, with a key file, across bundles.

Before anything is returned the result is validated (``validate_bundle``) and searched for every
original name, address line, phone/e-mail and identifier value: a hit is an error, never output.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any
from xml.etree import ElementTree

from bedside.deid.pipeline import Deidentifier
from bedside.deid.spans import PhiSpan, resolve
from bedside.deid.transform import Mode, apply
from bedside.errors import InputError

_FHIR_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_XHTML = "http://www.w3.org/1999/xhtml"
# Shorter originals ("1", "MA", an NPI "2339" that is also a LOINC code) occur by chance: they are
# replaced like any other, but not searched for in the output.
_MIN_LEAK_CHARS, _MIN_LEAK_DIGITS = 4, 7


@cache
def policy() -> dict[str, Any]:
    raw = resources.files("bedside").joinpath("resources/deid/fhir.json").read_text(encoding="utf-8")
    return json.loads(raw)


def validate_bundle(data: Any, what: str = "bundle") -> None:
    """Raise InputError unless ``data`` is a FHIR R4 Bundle (checked with fhir.resources' R4B models)."""
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        kind = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise InputError(f"{what} is not a FHIR Bundle (resourceType: {kind!r})")
    try:
        from fhir.resources.R4B.bundle import Bundle
    except ImportError:
        raise InputError("FHIR support needs the 'fhir.resources' package: pip install 'bedside[deid]'") from None
    from pydantic import ValidationError

    try:
        Bundle.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InputError(f"{what} is not a valid FHIR R4 Bundle: {where}: {first.get('msg')} "
                         f"({exc.error_count()} problem(s))") from None


def shift_fhir_date(value: str, days: int) -> str:
    """A FHIR date/dateTime/instant moved by ``days``, same precision and zone; unparseable -> ValueError."""
    m = _FHIR_DATE.match(value)
    if not m:
        raise ValueError(value)
    y, mo, d, hh = m.group(1), m.group(2), m.group(3), m.group(4)
    if mo is None:
        return str((date(int(y), 7, 1) + timedelta(days=days)).year)
    if d is None:
        shifted = date(int(y), int(mo), 15) + timedelta(days=days)
        return f"{shifted.year:04d}-{shifted.month:02d}"
    shifted_day = date(int(y), int(mo), int(d)) + timedelta(days=days)
    out = shifted_day.isoformat()
    if hh is not None:
        out += value[10:]  # the time of day and zone are kept
    return out


class BundleDeidentifier:
    def __init__(self, deid: Deidentifier, mode: Mode | str | None = None):
        self.deid = deid
        self.mode = Mode(mode) if mode is not None else deid.mode
        self.p = policy()
        self.originals: set[str] = set()  # structured PHI values, searched for in free text and the output
        self.offset = 0
        self._ids: dict[str, str] = {}

    # -- entry point ----------------------------------------------------------------------------

    def __call__(self, bundle: dict[str, Any]) -> dict[str, Any]:
        validate_bundle(bundle, "input")
        data = json.loads(json.dumps(bundle))  # a private copy: the caller's object is left as it was
        entries = [e for e in data.get("entry", []) if isinstance(e, dict)]
        resources_ = [e["resource"] for e in entries if isinstance(e.get("resource"), dict)]
        self.offset = self.deid.offset(_patient_key(resources_))
        for res in resources_:
            self._collect(res)
        for e in entries:
            self._entry(e)
        validate_bundle(data, "de-identified bundle")
        self._check_no_leak(data)
        return data

    # -- pass 1: what must not survive -----------------------------------------------------------

    def _collect(self, node: Any) -> None:
        if isinstance(node, dict):
            if "family" in node or "given" in node:
                self.originals.update(_strings([node.get("family"), node.get("given"), node.get("text")]))
            if _is_address(node):
                self.originals.update(_strings([node.get("line"), node.get("city"), node.get("postalCode"),
                                                node.get("text"), node.get("district")]))
            if "system" in node and "value" in node and node.get("system") in self.p["telecom_types"]:
                self.originals.update(_strings([node.get("value")]))
            if node.get("url") in self.p["name_extensions"]:
                self.originals.update(_strings([node.get("valueString")]))
            for k, v in node.items():
                if k == "identifier":
                    for ident in v if isinstance(v, list) else [v]:
                        if isinstance(ident, dict):
                            self.originals.update(_strings([ident.get("value")]))
                self._collect(v)
        elif isinstance(node, list):
            for v in node:
                self._collect(v)

    # -- pass 2: rewrite -------------------------------------------------------------------------

    def _entry(self, entry: dict[str, Any]) -> None:
        if isinstance(entry.get("fullUrl"), str):
            entry["fullUrl"] = self._reference(entry["fullUrl"])
        req = entry.get("request")
        if isinstance(req, dict) and isinstance(req.get("url"), str) and "/" in req["url"]:
            req["url"] = self._reference(req["url"])
        res = entry.get("resource")
        if isinstance(res, dict):
            self._resource(res)

    def _resource(self, res: dict[str, Any]) -> None:
        if isinstance(res.get("id"), str):
            res["id"] = self._new_id(res["id"])
        if res.get("resourceType") in self.p["named_resources"] and isinstance(res.get("name"), str):
            res["name"] = self._replace("HOSPITAL", res["name"])
        for contained in res.get("contained", []) or []:
            if isinstance(contained, dict):
                self._resource(contained)
        self._walk(res, parent="")

    def _walk(self, node: Any, parent: str) -> Any:
        if isinstance(node, list):
            return [self._walk(v, parent) for v in node]
        if not isinstance(node, dict):
            return node
        if "extension" in node and isinstance(node["extension"], list):
            node["extension"] = [x for x in node["extension"]
                                 if not (isinstance(x, dict) and x.get("url") in self.p["drop_extensions"])]
            if not node["extension"]:
                del node["extension"]
        done = set()  # keys rewritten by shape below; the generic pass leaves them alone
        if node.get("url") in self.p["name_extensions"] and isinstance(node.get("valueString"), str):
            node["valueString"] = self._replace("NAME", node["valueString"])
            done.add("valueString")
        if "family" in node or "given" in node:
            self._human_name(node)
        if _is_address(node):
            self._address(node)
        if isinstance(node.get("system"), str) and node["system"] in self.p["telecom_types"] \
                and isinstance(node.get("value"), str) and parent != "identifier":
            node["value"] = self._replace(self.p["telecom_types"][node["system"]], node["value"])
            done.add("value")
        for key, value in list(node.items()):
            if key in ("resourceType", "id", "contained") or key in done:
                continue
            if key == "identifier":
                for ident in value if isinstance(value, list) else [value]:
                    if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                        ident["value"] = self._replace("ID", ident["value"])
            if key == "reference" and isinstance(value, str):
                node[key] = self._reference(value)
            elif isinstance(value, str):
                node[key] = self._string(key, value, parent)
            else:
                node[key] = self._walk(value, key)
        return node

    def _string(self, key: str, value: str, parent: str) -> str:
        if key in self.p["id_keys"]:  # typed as oid/uri: only a same-shaped value stays valid, whatever the mode
            return self.deid.surrogates.characters("ID", value)
        if key in self.p["date_keys"] or (_FHIR_DATE.match(value) and "-" in value):
            try:
                return shift_fhir_date(value, self.offset)
            except ValueError:
                return value
        if key == "div":
            return self._narrative(value)
        if key in self.p["text_fields"] or self.p["text_under"].get(parent) == key:
            return self._free_text(value)
        return value

    # -- shapes ----------------------------------------------------------------------------------

    def _human_name(self, node: dict[str, Any]) -> None:
        if isinstance(node.get("family"), str):
            node["family"] = self._replace("NAME", node["family"])
        if isinstance(node.get("given"), list):
            node["given"] = [self._replace("NAME", g) if isinstance(g, str) else g for g in node["given"]]
        if isinstance(node.get("text"), str):
            node["text"] = self._replace("NAME", node["text"])

    def _address(self, node: dict[str, Any]) -> None:
        if isinstance(node.get("line"), list):
            node["line"] = [self._replace("ADDRESS", x) if isinstance(x, str) else x for x in node["line"]]
        for field, kind in (("city", "LOCATION"), ("district", "LOCATION"), ("postalCode", "ZIP"), ("text", "ADDRESS")):
            if isinstance(node.get(field), str):
                node[field] = self._replace(kind, node[field])

    def _replace(self, kind: str, value: str) -> str:
        if self.mode is Mode.surrogate:
            return self.deid.surrogates(kind, value) if kind != "ID" else self.deid.surrogates.characters("ID", value)
        # FHIR strings may not be empty, so 'redact' writes the class like 'mask'
        return f"[{kind}]"

    # -- free text -------------------------------------------------------------------------------

    def _free_text(self, value: str) -> str:
        if not value.strip():
            return value
        spans = self.deid.detector(value) + self._known_spans(value)
        return apply(value, resolve(value, spans), self.mode,
                     self.deid.surrogates if self.mode is Mode.surrogate else None, self.offset)

    def _known_spans(self, value: str) -> list[PhiSpan]:
        """The bundle's own structured PHI values where they occur in free text (whole words)."""
        out = []
        for original in self.originals:
            for m in re.finditer(rf"(?<![^\W_]){re.escape(original)}(?![^\W_])", value, re.IGNORECASE):
                out.append(PhiSpan.of(value, m.start(), m.end(), "NAME" if original.isalpha() else "ID", 1.0, "fhir"))
        return out

    def _narrative(self, div: str) -> str:
        try:
            root = ElementTree.fromstring(div)
        except ElementTree.ParseError as exc:
            raise InputError(f"narrative div is not well-formed XHTML: {exc}") from None
        for el in root.iter():
            if el.text and el.text.strip():
                el.text = self._free_text(el.text)
            if el.tail and el.tail.strip():
                el.tail = self._free_text(el.tail)
            for attr in ("href", "title", "alt"):
                if attr in el.attrib:
                    el.attrib[attr] = self._free_text(el.attrib[attr])
        ElementTree.register_namespace("", _XHTML)
        return ElementTree.tostring(root, encoding="unicode")

    # -- ids -------------------------------------------------------------------------------------

    def _new_id(self, old: str) -> str:
        if old not in self._ids:
            self._ids[old] = str(uuid.UUID(bytes=self.deid.derive("fhir-id", old)[:16], version=4))
        return self._ids[old]

    def _reference(self, ref: str) -> str:
        if ref.startswith("urn:uuid:"):
            return "urn:uuid:" + self._new_id(ref[len("urn:uuid:"):])
        if ref.startswith("#"):
            return ref
        parts = ref.split("/")
        if len(parts) >= 2 and parts[-2][:1].isupper():
            parts[-1] = self._new_id(parts[-1])
            return "/".join(parts)
        return ref

    # -- the last check --------------------------------------------------------------------------

    def _check_no_leak(self, data: dict[str, Any]) -> None:
        text = "\n".join(_strings([data]))
        for original in self.originals:
            if len(original) < (_MIN_LEAK_DIGITS if original.isdigit() else _MIN_LEAK_CHARS):
                continue
            if re.search(rf"(?<![^\W_]){re.escape(original)}(?![^\W_])", text, re.IGNORECASE):
                raise InputError("de-identification incomplete: an original identifier value is still in the "
                                 "bundle (not written); please report this")


def _is_address(node: dict[str, Any]) -> bool:
    return isinstance(node.get("line"), list) or ("city" in node and ("state" in node or "postalCode" in node)) \
        or "postalCode" in node


def _strings(values: Any) -> list[str]:
    out: list[str] = []
    if isinstance(values, str):
        out.append(values)
    elif isinstance(values, list):
        for v in values:
            out += _strings(v)
    elif isinstance(values, dict):
        for v in values.values():
            out += _strings(v)
    return [s for s in out if s.strip()]


def _patient_key(resources_: list[dict[str, Any]]) -> str:
    """What identifies the bundle's patient for the date offset: the MR identifier, else the Patient id."""
    for res in resources_:
        if res.get("resourceType") != "Patient":
            continue
        for ident in res.get("identifier", []) or []:
            codes = [c.get("code") for c in (ident.get("type") or {}).get("coding", []) if isinstance(c, dict)]
            if "MR" in codes and ident.get("value"):
                return f"{ident.get('system', '')}|{ident['value']}"
        return f"Patient/{res.get('id', '')}"
    return ""


def deidentify_bundle(bundle: dict[str, Any], deid: Deidentifier, mode: Mode | str | None = None) -> dict[str, Any]:
    return BundleDeidentifier(deid, mode)(bundle)


__all__ = ["BundleDeidentifier", "deidentify_bundle", "shift_fhir_date", "validate_bundle"]
