"""Entity spans from the exported artifact: onnxruntime + tokenizers + numpy, no torch.

An artifact folder holds ``model.onnx`` (int8), ``tokenizer.json`` and ``bedside-ner.json`` (labels,
window length, training provenance). :func:`predict` is engine-agnostic: training scores its torch
model through the same code path by passing another ``runner``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bedside.errors import InputError, ModelUnavailableError
from bedside.ner.memory import Tagged, Untagged
from bedside.ner.tokens import TextEncoder, decode

META_FILE = "bedside-ner.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
FORMAT = "bedside-ner/1"

# (input_ids [B, T] int64, attention_mask [B, T] int64) -> logits [B, T, n_labels]
Runner = Callable[[np.ndarray, np.ndarray], np.ndarray]
# Wraps the list of batches, e.g. in a tqdm bar.
Progress = Callable[[list], Iterable]


@dataclass(frozen=True)
class Entity:
    text: str
    category: str
    begin_offset: int
    end_offset: int  # exclusive: text == input[begin_offset:end_offset]
    score: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def predict(
    texts: list[str], encoder: TextEncoder, labels: list[str], runner: Runner, *,
    batch_size: int = 32, progress: Progress | None = None,
) -> list[list[Entity]]:
    """Entities for each text. Windows of similar length are batched together to keep padding small."""
    encs = encoder.encode(texts)
    windows = [w for i, e in enumerate(encs) for w in encoder.windows(e, i)]
    probs = [np.zeros((e.n_words, len(labels)), dtype=np.float32) for e in encs]
    order = sorted(range(len(windows)), key=lambda k: len(windows[k].input_ids))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in progress(batches) if progress else batches:
        width = max(len(windows[k].input_ids) for k in batch)
        ids = np.full((len(batch), width), encoder.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, k in enumerate(batch):
            n = len(windows[k].input_ids)
            ids[row, :n] = windows[k].input_ids
            mask[row, :n] = 1
        p = _softmax(np.asarray(runner(ids, mask), dtype=np.float32))
        for row, k in enumerate(batch):
            w = windows[k]
            probs[w.text_index][w.words] = p[row, w.positions]
    return [
        [Entity(text[b:e], cat, b, e, round(score, 4)) for b, e, cat, score in decode(enc, pr, labels)]
        for text, enc, pr in zip(texts, encs, probs, strict=True)
    ]


def bias_vector(labels: list[str], label_bias: dict[str, float] | None, where: str = "label_bias") -> np.ndarray | None:
    """Per-label logit offsets from ``{category: offset}`` (added to the category's B- and I- logits).

    A negative offset asks for more evidence before a word is tagged with the category: it trades
    recall for precision. The shipped model's offsets were chosen on dev sets with models that never
    trained on them (benchmarks/results/ner_calibration.md).
    """
    if not label_bias:
        return None
    if not isinstance(label_bias, dict):
        raise InputError(f"{where}: expected {{category: offset}}, not {type(label_bias).__name__}")
    known = {lab[2:] for lab in labels if lab != "O"}
    vec = np.zeros(len(labels), dtype=np.float32)
    for cat, value in label_bias.items():
        if cat not in known:
            raise InputError(f"{where}: unknown category {cat!r} (the model has {', '.join(sorted(known))})")
        if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
            raise InputError(f"{where}: offset for {cat} must be a finite number, not {value!r}")
        for j, lab in enumerate(labels):
            if lab[2:] == cat:
                vec[j] = value
    return vec if vec.any() else None


def artifact_dir(path: Path) -> Path:
    """The folder holding model.onnx: ``path`` itself or its ``onnx/`` (a training output folder)."""
    for cand in (path, path / "onnx"):
        if (cand / MODEL_FILE).is_file():
            return cand
    raise ModelUnavailableError(
        f"no NER model at {path}: expected {MODEL_FILE}, {TOKENIZER_FILE} and {META_FILE} "
        "(the onnx/ folder that `bedside train ner` writes)"
    )


def read_meta(folder: Path) -> dict:
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelUnavailableError(f"{folder}: {META_FILE} missing; not a bedside NER artifact") from exc
    except ValueError as exc:
        raise ModelUnavailableError(f"{folder / META_FILE}: invalid JSON ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise ModelUnavailableError(
            f"{folder / META_FILE}: format {meta.get('format')!r}, expected {FORMAT!r}"
        )
    return meta


class NerModel:
    """The ONNX artifact, loaded once; ``predict`` is thread-compatible (onnxruntime sessions are)."""

    def __init__(self, path: Path, *, threads: int = 0, batch_size: int = 32):
        import onnxruntime as ort

        self.path = artifact_dir(Path(path))
        self.meta = read_meta(self.path)
        self.labels: list[str] = list(self.meta["labels"])
        self.categories: list[str] = list(self.meta["categories"])
        self.encoder = TextEncoder.from_file(self.path / TOKENIZER_FILE, int(self.meta["max_len"]))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        # Idle worker threads sleep instead of spinning: on 2 shared cores (a hospital server runs
        # other work) spinning threads fight the busy ones. Measured on 992 note sentences with the
        # machine under load (load average 3.4): 2.4 s without spinning, 4.8 s with it.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(self.path / MODEL_FILE), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelUnavailableError(f"{self.path / MODEL_FILE}: cannot load ONNX model ({exc})") from exc
        self.batch_size = batch_size
        try:
            self.untagged = Untagged.load(self.path)
            self.tagged = Tagged.load(self.path)
        except (ValueError, OSError) as exc:
            raise ModelUnavailableError(f"{self.path}: {exc}") from exc
        try:
            self.bias = bias_vector(self.labels, self.meta.get("label_bias"), f"{self.path / META_FILE} label_bias")
        except InputError as exc:
            raise ModelUnavailableError(str(exc)) from exc

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        logits = self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
        return logits if self.bias is None else logits + self.bias

    def predict(self, texts: list[str], *, progress: Progress | None = None) -> list[list[Entity]]:
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise InputError(f"text {i} is {type(t).__name__}, not str")
        return predict(
            texts, self.encoder, self.labels, self.run, batch_size=self.batch_size, progress=progress
        )
