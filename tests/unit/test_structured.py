import json
from pathlib import Path

import pytest

from bedside.errors import InputError, StructuredOutputError
from bedside.runtime.base import Constraint, Generation
from bedside.runtime.structured import check_schema, load_schema, parse_choices, validate_output

SCHEMA = {"type": "object", "properties": {"dx": {"type": "string"}, "n": {"type": "integer", "minimum": 0}},
          "required": ["dx", "n"]}


def test_load_schema_errors(tmp_path: Path):
    with pytest.raises(InputError, match="not found"):
        load_schema(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_schema(bad)
    bad.write_text(json.dumps({"type": "strin"}))
    with pytest.raises(InputError, match="not a valid JSON Schema"):
        load_schema(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(SCHEMA))
    assert load_schema(good) == SCHEMA


def test_check_schema_rejects_non_objects():
    with pytest.raises(InputError):
        check_schema([1, 2])


@pytest.mark.parametrize("raw", ["a", "a,", ",b", "a,a"])
def test_parse_choices_rejects(raw: str):
    with pytest.raises(InputError):
        parse_choices(raw)


def test_parse_choices_strips():
    assert parse_choices("yes, no ,maybe") == ("yes", "no", "maybe")


def test_validate_output():
    c = Constraint(schema=SCHEMA)
    assert validate_output(Generation('{"dx": "flu", "n": 2}', "stop"), c, 64) == {"dx": "flu", "n": 2}
    with pytest.raises(StructuredOutputError, match="cut at max_tokens=8"):
        validate_output(Generation('{"dx": "fl', "length"), c, 8)
    with pytest.raises(StructuredOutputError, match="does not match the schema at n"):
        validate_output(Generation('{"dx": "flu", "n": -1}', "stop"), c, 64)
    ch = Constraint(choices=("yes", "no"))
    assert validate_output(Generation('"no"', "stop"), ch, 8) == "no"
    with pytest.raises(StructuredOutputError, match="not one of the choices"):
        validate_output(Generation('"perhaps"', "stop"), ch, 8)


def test_constraint_needs_exactly_one():
    with pytest.raises(ValueError):
        Constraint()
    with pytest.raises(ValueError):
        Constraint(schema={}, choices=("a",))
    assert Constraint(choices=("a", "b")).as_json_schema() == {"type": "string", "enum": ["a", "b"]}
