"""The model to adapt: a catalog name, a .gguf path or an HF folder, as transformers weights.

A GGUF base is dequantized into torch by transformers once and kept as an fp32 HF folder in the
cache, keyed by the GGUF's sha256: converting SmolLM2-135M takes ~11 s on 2 cores (most of it
parsing the GGUF's metadata and building the tokenizer) while loading the cached folder takes
0.3 s, and adapting the same base again (other data, other settings) is the common case.
fp32 because dequantized 4-bit values do not all fit fp16 (measured: a quarter of SmolLM2's
attn_q values change in a round trip): the cached weights are exactly what the GGUF holds, which
the GGUF export relies on (see ``gguf_export``). The price is disk: 4 bytes a parameter (538 MB
for SmolLM2).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bedside.catalog import Catalog, Resolver
from bedside.errors import InputError, ModelUnavailableError

if TYPE_CHECKING:
    from bedside.catalog.spec import ModelSpec
    from bedside.config import Settings

log = logging.getLogger("bedside.adapt")

CACHE_META = "bedside-base.json"


@dataclass(frozen=True)
class Base:
    spec: ModelSpec
    path: Path  # what the catalog resolved: a GGUF file or an HF folder
    sha256: str  # of the GGUF file, or of the folder's weights file
    hf_dir: Path  # an HF folder transformers loads (the cache for a GGUF base)

    @property
    def gguf(self) -> Path | None:
        return self.path if self.path.is_file() else None


def resolve_base(name: str, settings: Settings, *, progress: bool = True) -> Base:
    """Find, verify and (for a GGUF) convert the base model; unknown names raise UnknownModelError."""
    spec = Catalog.load(settings.models).get(name)
    if spec.source.kind == "endpoint":
        raise InputError(f"model '{spec.name}' is a remote endpoint; adaptation needs local weights")
    if spec.role == "embedder":
        raise InputError(f"model '{spec.name}' is an embedder, not a text generator")
    if spec.source.kind == "file" and not spec.source.weights and Path(spec.source.path or "").is_dir():
        spec = _with_weights(spec, Path(spec.source.path or ""))
    resolver = Resolver(settings.cache_dir, settings.data_dir, allow_network=settings.allow_network)
    path = resolver.resolve(spec, progress=progress)
    sha = resolver.verify(spec, path, progress=progress)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InputError(f"{path}: not an HF model folder (no config.json)")
        return Base(spec, path, sha, path)
    return Base(spec, path, sha, cached_hf(path, sha, settings.cache_dir))


def _with_weights(spec: ModelSpec, folder: Path) -> ModelSpec:
    """An HF folder given as a path names no weights file; the one sha256 covers its safetensors."""
    weights = sorted(folder.glob("*.safetensors"))
    if len(weights) != 1:
        raise InputError(f"{folder}: expected one *.safetensors weights file in an HF folder, found {len(weights)}")
    return spec.model_copy(update={"source": spec.source.model_copy(update={"weights": weights[0].name})})


def cached_hf(gguf: Path, sha256: str, cache_dir: Path) -> Path:
    folder = cache_dir / "adapt" / "base" / sha256[:16]
    if _is_cache_of(folder, sha256):
        return folder
    log.info("converting %s to an fp32 torch checkpoint (once per base model) ...", gguf.name)
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tokenizer, model = load_gguf(gguf)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / CACHE_META).write_text(json.dumps({"gguf_sha256": sha256, "gguf": str(gguf)}) + "\n")
        if not _is_cache_of(folder, sha256):  # another run may have finished the same conversion
            shutil.rmtree(folder, ignore_errors=True)  # a stale or partial entry
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _is_cache_of(folder: Path, sha256: str) -> bool:
    """The marker file is written last, so a folder with the right one is complete."""
    try:
        return json.loads((folder / CACHE_META).read_text()).get("gguf_sha256") == sha256
    except (OSError, ValueError):
        return False


def load_gguf(gguf: Path) -> tuple[Any, Any]:
    """(tokenizer, fp32 model) from a GGUF file, through transformers, ready to save as an HF folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf.name, "local_files_only": True}
    with _gguf_parse_once():
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kwargs)
        except Exception as exc:  # an architecture transformers cannot read from GGUF, a bad file
            first = (str(exc).strip().splitlines() or [""])[0]
            raise ModelUnavailableError(
                f"transformers could not load {gguf} for training: {type(exc).__name__}: {first}"
            ) from exc
    # Saving a model loaded from GGUF otherwise records a GGUF "quantization" it no longer has.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return tokenizer, model


@contextlib.contextmanager
def _gguf_parse_once():
    """While transformers reads one GGUF: parse it once and build each tensor-name map once.

    transformers constructs a ``GGUFReader`` (5 s for SmolLM2's 49k-token vocabulary on 2 cores)
    for the config, the tokenizer and the weights separately, and a ``TensorNameMap`` per module
    (397 times, 10 s). Both are pure functions of their arguments and only read afterwards, so
    memoizing them is safe; measured 21-25 s -> 11-12 s for SmolLM2's tokenizer and weights. If
    transformers stops calling them through the ``gguf`` module, this does nothing and loading is
    just slower.
    """
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf.GGUFReader = functools.cache(reader)
    gguf.get_tensor_name_map = functools.cache(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map
