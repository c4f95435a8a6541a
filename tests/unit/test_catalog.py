import hashlib
from pathlib import Path

import pytest

from bedside.catalog import Catalog, ModelSpec, Resolver
from bedside.catalog.registry import bundled_entries
from bedside.errors import ConfigError, ModelUnavailableError, UnknownModelError


def test_bundled_catalog_parses_and_pins_every_bundled_file():
    cat = Catalog.load()
    names = {s.name for s in cat}
    assert {"smollm2", "qwen2.5-0.5b", "gemma3-270m", "minilm"} <= names
    for spec in cat:
        if spec.source.kind in ("package", "parts"):
            assert spec.sha256 and len(spec.sha256) == 64, spec.name
            assert spec.size_bytes and spec.license and spec.provenance, spec.name


def test_aliases_and_unknown_model_suggestion():
    cat = Catalog.load()
    assert cat.get("qwen").name == "qwen2.5-0.5b"
    with pytest.raises(UnknownModelError, match="did you mean smollm2"):
        cat.get("smollm")


def test_user_entries_extend_and_replace(tmp_path: Path):
    entry = {"name": "local", "role": "writer", "source": {"kind": "file", "path": str(tmp_path / "m.gguf")}}
    cat = Catalog(bundled_entries() + [entry, {**bundled_entries()[0], "description": "mine"}])
    assert cat.get("local").source.kind == "file"
    assert cat.get("smollm2").description == "mine"


def test_invalid_entry_is_a_config_error():
    with pytest.raises(ConfigError, match="catalog entry 'x'.*source"):
        Catalog([{"name": "x", "source": {"kind": "package"}}])


def _spec(path: Path, **kw) -> ModelSpec:
    return ModelSpec(name="f", source={"kind": "file", "path": str(path)}, **kw)


def test_pinned_sha_size_and_content(tmp_path: Path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF" + b"x" * 100)
    good = hashlib.sha256(f.read_bytes()).hexdigest()
    r = Resolver(tmp_path / "cache", tmp_path / "data")
    assert r.resolve(_spec(f, sha256=good, size_bytes=104), progress=False) == f
    with pytest.raises(ModelUnavailableError, match="sha256 mismatch"):
        Resolver(tmp_path / "c2", tmp_path / "d2").resolve(_spec(f, sha256="0" * 64), progress=False)
    f.write_bytes(b"GGUF" + b"x" * 50)  # truncated
    with pytest.raises(ModelUnavailableError, match="truncated"):
        r.resolve(_spec(f, sha256=good, size_bytes=104), progress=False)


def test_hash_cache_does_not_hide_a_changed_file(tmp_path: Path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF" + b"a" * 100)
    good = hashlib.sha256(f.read_bytes()).hexdigest()
    r = Resolver(tmp_path / "cache", tmp_path / "data")
    r.resolve(_spec(f, sha256=good), progress=False)
    f.write_bytes(b"GGUF" + b"b" * 100)  # same size, new content, new mtime
    with pytest.raises(ModelUnavailableError, match="sha256 mismatch"):
        Resolver(tmp_path / "cache", tmp_path / "data").resolve(_spec(f, sha256=good), progress=False)


def test_unpinned_entries_are_pinned_on_first_use(tmp_path: Path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF1")
    r = Resolver(tmp_path / "cache", tmp_path / "data")
    r.resolve(_spec(f), progress=False)
    assert r.lock.get("f") == hashlib.sha256(b"GGUF1").hexdigest()
    f.write_bytes(b"GGUF2")
    with pytest.raises(ModelUnavailableError, match="sha256 mismatch"):
        Resolver(tmp_path / "cache", tmp_path / "data").resolve(_spec(f), progress=False)


def test_missing_package_and_hub_without_network(tmp_path: Path):
    r = Resolver(tmp_path / "cache", tmp_path / "data", allow_network=False)
    pkg = ModelSpec(name="p", install="pip install nothing-here",
                    source={"kind": "package", "package": "no-such-dist-xyz", "path": "a/b.gguf"})
    assert not r.available(pkg)
    with pytest.raises(ModelUnavailableError, match="not installed.*pip install nothing-here"):
        r.resolve(pkg)
    hub = Catalog.load().get("qwen3-4b")
    with pytest.raises(ModelUnavailableError, match="downloads are off.*BEDSIDE_ALLOW_NETWORK"):
        r.resolve(hub)


def test_parts_are_assembled_atomically_and_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import bedside.catalog.resolve as resolve_mod

    parts = []
    for i, chunk in enumerate([b"GGUF-first-", b"second-", b"third"]):
        p = tmp_path / f"part{i}"
        p.write_bytes(chunk)
        parts.append(p)
    by_name = {f"pkg{i}": p for i, p in enumerate(parts)}
    # Orchestration only: stand in for installed distributions, the bytes are real files.
    monkeypatch.setattr(resolve_mod, "package_file", lambda package, path: by_name.get(package))
    whole = b"GGUF-first-second-third"
    spec = ModelSpec(name="chunked", sha256=hashlib.sha256(whole).hexdigest(), size_bytes=len(whole),
                     source={"kind": "parts", "filename": "c.gguf",
                             "parts": [{"package": k, "path": "x"} for k in by_name]})
    r = Resolver(tmp_path / "cache", tmp_path / "data")
    out = r.resolve(spec, progress=False)
    assert out.read_bytes() == whole
    bad = spec.model_copy(update={"sha256": "1" * 64, "name": "bad"})
    with pytest.raises(ModelUnavailableError, match="assembled file sha256"):
        r.resolve(bad, progress=False)
    assert not r.assembled_path(bad).exists()
    assert not list((tmp_path / "cache" / "models").glob("*.part*"))
