"""``bedside train ner``: fine-tune an HF encoder as a token classifier, then export and score it.

Choices made for 2 CPU cores:
- a plain torch loop (no Trainer): dynamic padding over length-bucketed batches, since most
  sentences are ~25 words and padding them to 128 would triple the work;
- first-subword labelling over the tokenizer's own words (see ``tokens``);
- a partial-label loss: each word has a set of acceptable labels and the loss is
  ``-log sum(p(label) for acceptable labels)``. With one acceptable label that is cross-entropy;
  an O word of a disease-only sentence also accepts B/I-MEDICATION, so unannotated drugs there are
  not taught as non-entities. Measured on the default recipe (1 epoch, same seed, int8, dev strict
  F1, with vs. without): BC5CDR-chemical 81.5 vs 80.3 (recall 82.4 vs 78.3), BC5CDR-disease 72.3
  vs 70.6, NCBI-disease 74.5 vs 74.2.

Output folder::

    checkpoint/          HF model + tokenizer (fp32), for further training or torch inference
    onnx/                the compact inference artifact: model.onnx (int8), tokenizer.json, bedside-ner.json
    bedside-ner.json     the same metadata: data hashes, labels, hyperparameters, dev scores, versions
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bedside.catalog import Catalog, Resolver, sha256_file
from bedside.config import Settings
from bedside.errors import InputError
from bedside.ner import export, memory
from bedside.ner.data import Corpus, Example, merge, read_corpus
from bedside.ner.evaluate import evaluate, headline
from bedside.ner.infer import FORMAT, META_FILE, TOKENIZER_FILE, bias_vector, predict
from bedside.ner.labels import CATEGORIES, bio_labels
from bedside.ner.meta import git_revision, versions
from bedside.ner.recipe import Recipe, TrainParams
from bedside.ner.tokens import TextEncoder, allowed_labels, word_labels

log = logging.getLogger("bedside.ner")

# Files of the base model's folder that make checkpoint/ loadable by transformers on its own.
_TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def resolve_base(name: str, settings: Settings) -> tuple[Path, str, str]:
    """(HF folder, weights sha256, catalog name) of the encoder to fine-tune: a catalog name or a folder."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
        if not weights or not (folder / TOKENIZER_FILE).is_file():
            raise InputError(f"{folder}: not an HF model folder with weights and {TOKENIZER_FILE}")
        return folder.resolve(), sha256_file(weights[0]), str(folder.resolve())
    spec = Catalog.load(settings.models).get(name)
    if spec.format != "hf":
        raise InputError(f"model '{spec.name}' is {spec.format}, not an HF encoder folder; try --base minilm")
    resolver = Resolver(settings.cache_dir, settings.data_dir, allow_network=settings.allow_network)
    path = resolver.resolve(spec, progress=False)
    sha = resolver.verify(spec, path, progress=False)
    if not (path / TOKENIZER_FILE).is_file():
        raise InputError(f"model '{spec.name}' has no {TOKENIZER_FILE} (a fast tokenizer is needed)")
    return path, sha, spec.name


def featurize(
    examples: list[Example], encoder: TextEncoder, labels: list[str], partial: bool
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per window: input ids and a [T, n_labels] acceptable-label mask (all-False rows are ignored)."""
    ids_out: list[np.ndarray] = []
    allowed_out: list[np.ndarray] = []
    encs = encoder.encode([ex.text for ex in examples])
    for ex, enc in zip(examples, encs, strict=True):
        word_allowed = allowed_labels(word_labels(enc, ex.spans), labels, ex.annotated, partial)
        for win in encoder.windows(enc):
            allowed = np.zeros((len(win.input_ids), len(labels)), dtype=bool)
            allowed[win.positions] = word_allowed[win.words]
            ids_out.append(win.input_ids)
            allowed_out.append(allowed)
    return ids_out, allowed_out


def bucket_batches(
    lengths: list[int], batch_size: int, rng: random.Random, pool: int = 50
) -> list[list[int]]:
    """Batches of similar length: sort inside random pools of ``pool`` batches, then shuffle the batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    span = batch_size * pool
    for i in range(0, len(order), span):
        chunk = sorted(order[i:i + span], key=lambda k: lengths[k])
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def fit_schedule(total: int, step: int, elapsed: float, remaining: float) -> int:
    """Steps the run can still afford at its mean step time so far (never more than planned, never
    fewer than one more): re-planned this way the LR still decays to zero on time."""
    affordable = step + int(max(0.0, remaining) / (elapsed / step))
    return min(total, max(step + 1, affordable))


def replan(total: int, step: int, started: float, deadline: float | None) -> int:
    """``total`` steps re-fitted to ``deadline`` (a ``time.time()``) at the mean step time so far."""
    if deadline is None:
        return total
    now = time.time()
    return fit_schedule(total, step, now - started, deadline - now)


def partial_label_loss(logits, allowed):
    """Mean over labelled positions of ``logsumexp(all) - logsumexp(acceptable)``."""
    import torch

    rows = allowed.any(dim=-1)
    logits = logits[rows]
    ok = allowed[rows]
    if logits.numel() == 0:
        return logits.sum()
    masked = logits.masked_fill(~ok, torch.finfo(logits.dtype).min)
    return (torch.logsumexp(logits, dim=-1) - torch.logsumexp(masked, dim=-1)).mean()


def _collate(idx: list[int], ids: list[np.ndarray], allowed: list[np.ndarray], pad_id: int, n_labels: int):
    import torch

    width = max(len(ids[k]) for k in idx)
    x = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    ok = torch.zeros((len(idx), width, n_labels), dtype=torch.bool)
    for row, k in enumerate(idx):
        n = len(ids[k])
        x[row, :n] = torch.from_numpy(ids[k])
        mask[row, :n] = 1
        ok[row, :n] = torch.from_numpy(allowed[k])
    return x, mask, ok


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _read_all(refs, strict: bool, what: str) -> list[Corpus]:
    corpora = []
    for ref in refs:
        corpus = read_corpus(ref, strict=strict)
        if not corpus.examples:
            raise InputError(f"{what} corpus {ref.path} has no sentences")
        if corpus.problems:
            log.warning("%s: skipped %d malformed item(s); first: %s", ref.path, len(corpus.problems),
                        corpus.problems[0])
        corpora.append(corpus)
    return corpora


def _bar(**kw):
    # In a log file (nohup) a bar redrawn every 0.1 s is noise; every 30 s is a progress line.
    return tqdm(file=sys.stderr, mininterval=0.1 if sys.stderr.isatty() else 30, **kw)


def train(recipe: Recipe, out: Path, settings: Settings, *, strict: bool = False) -> dict:
    """Train, save, export and score; returns the metadata written to ``bedside-ner.json``."""
    # Busy-waiting OpenMP workers stall when another process holds a core (a shared 2-core box):
    # measured 3x slower steps. Only effective if torch is not imported yet, hence here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    from transformers import AutoModelForTokenClassification

    p: TrainParams = recipe.params
    if not recipe.train:
        raise InputError("no training data: give --train FILE[:CATEGORY] (repeatable) or --recipe")
    started = time.time()
    revision = git_revision()  # now, not after an hour in which the checkout may have moved on
    torch.set_num_threads(p.threads or settings.threads or os.cpu_count() or 1)
    seed_everything(p.seed)

    train_corpora = _read_all(recipe.train, strict, "training")
    dev_corpora = _read_all(recipe.dev, strict, "dev")
    examples, merged = merge(train_corpora)
    found = set().union(*(c.categories for c in train_corpora))
    if not found:
        raise InputError("the training corpora hold no entity categories")
    # Known categories in schema order, then any others alphabetically: a stable label order.
    categories = [c for c in CATEGORIES if c in found] + sorted(found - set(CATEGORIES))
    labels = bio_labels(categories)
    bias = bias_vector(labels, recipe.label_bias, f"recipe {recipe.source}")  # fails before training, not after
    unscored = [str(c.ref) for c in dev_corpora if not c.categories <= found]
    if unscored:
        raise InputError(f"dev corpora with categories the training data lacks: {', '.join(unscored)}")

    base_path, base_sha, base_name = resolve_base(p.base, settings)
    encoder = TextEncoder.from_file(base_path / TOKENIZER_FILE, p.max_len)
    ids, allowed = featurize(examples, encoder, labels, p.partial_labels)
    lengths = [len(x) for x in ids]
    log.info("training on %d sentences (%d windows, %d subwords, %d merged across corpora) with labels %s",
             len(examples), len(ids), sum(lengths), merged.merged, labels)

    model = AutoModelForTokenClassification.from_pretrained(
        str(base_path), num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={lab: i for i, lab in enumerate(labels)},
        ignore_mismatched_sizes=True,  # a base that is itself a token classifier with other labels
    )
    steps_per_epoch = math.ceil(len(ids) / p.batch_size)
    planned = p.max_steps if p.max_steps > 0 else max(1, round(p.epochs * steps_per_epoch))
    total = planned
    no_decay = ("bias", "LayerNorm.weight", "layer_norm")
    decayed = [w for n, w in model.named_parameters() if not any(k in n for k in no_decay)]
    flat = [w for n, w in model.named_parameters() if any(k in n for k in no_decay)]
    groups = [{"params": decayed, "weight_decay": p.weight_decay}, {"params": flat, "weight_decay": 0.0}]
    optim = torch.optim.AdamW(groups, lr=p.lr)
    warm = max(1, int(p.warmup * total))
    # Reads ``total`` when called, so a time limit that shortens the run also shortens the decay.
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )

    rng = random.Random(p.seed)
    model.train()
    step, stopped_by = 0, "schedule"
    train_start = time.time()
    deadline = train_start + p.time_limit_min * 60 if p.time_limit_min > 0 else None
    with _bar(total=total, desc="train ner", unit="step") as bar:
        while step < total:
            for batch in bucket_batches(lengths, p.batch_size, rng):
                x, mask, ok = _collate(batch, ids, allowed, encoder.pad_id, len(labels))
                loss = partial_label_loss(model(input_ids=x, attention_mask=mask).logits, ok)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optim.step()
                sched.step()
                optim.zero_grad(set_to_none=True)
                step += 1
                if step % 20 == 0 and (fitted := replan(total, step, train_start, deadline)) < total:
                    total = bar.total = fitted
                    stopped_by = "time_limit"
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}", epoch=f"{step / steps_per_epoch:.2f}",
                                refresh=False)
                if step >= total:
                    break
    train_seconds = time.time() - train_start
    model.eval()
    log.info("trained %d steps (%.2f epochs) in %.0f s; stopped by %s", step, step / steps_per_epoch,
             train_seconds, stopped_by)

    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint"
    model.save_pretrained(ckpt)
    encoder.tokenizer.save(str(ckpt / TOKENIZER_FILE))
    for name in _TOKENIZER_FILES:
        if (base_path / name).is_file():
            shutil.copy(base_path / name, ckpt / name)

    meta = {
        "format": FORMAT,
        "labels": labels,
        "categories": categories,
        "max_len": p.max_len,
        "base_model": {"name": base_name, "path": str(base_path), "sha256": base_sha},
        "hyperparameters": dataclasses.asdict(p),
        "seed": p.seed,
        "recipe": recipe.source,
        **({"label_bias": recipe.label_bias} if recipe.label_bias else {}),
        "train_data": [c.summary() for c in train_corpora],
        "merge": dataclasses.asdict(merged),
        "train_sentences": len(examples),
        "train_windows": len(ids),
        "steps": step,
        "steps_planned": planned,
        "epochs_done": round(step / steps_per_epoch, 3),
        "stopped_by": stopped_by,
        "train_seconds": round(train_seconds, 1),
        "git_revision": revision,
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    dev: dict[str, object] = {}
    if dev_corpora:
        def torch_runner(x: np.ndarray, m: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                logits = model(input_ids=torch.from_numpy(x), attention_mask=torch.from_numpy(m)).logits.numpy()
            return logits if bias is None else logits + bias  # as the exported artifact applies it

        dev["torch_fp32"] = evaluate(
            dev_corpora, lambda t: predict(t, encoder, labels, torch_runner, batch_size=64)
        )
        log.info("dev strict F1 (torch fp32): %s", headline(dev["torch_fp32"]))
    meta["dev"] = dev
    _write_meta(out, meta)
    (out / "onnx").mkdir(parents=True, exist_ok=True)
    meta.update(memory.write_both(out / "onnx", examples, categories))
    export_and_score(out, meta, dev_corpora, quantize=p.quantize, threads=p.threads)
    meta["total_seconds"] = round(time.time() - started, 1)
    _write_meta(out, meta)
    _write_meta(out / "onnx", meta)
    return meta


def export_and_score(out: Path, meta: dict, dev_corpora: list[Corpus], *, quantize: bool, threads: int) -> dict:
    """checkpoint/ -> onnx/; records the artifact and the fp32 and int8 ONNX dev scores in ``meta``.

    Separate from :func:`train` so that a saved checkpoint can be re-exported (e.g. after a change
    of quantization settings) without training again.
    """
    from bedside.ner.infer import NerModel

    art = export.export(out / "checkpoint", out / "onnx", meta, quantize=quantize, keep_fp32=bool(dev_corpora))
    meta["artifact"] = art
    dev = meta.setdefault("dev", {})
    if dev_corpora:
        fp32 = Path(art.pop("fp32_path"))
        dev["onnx_fp32"] = evaluate(dev_corpora, NerModel(fp32.parent, threads=threads).predict)
        shutil.rmtree(fp32.parent, ignore_errors=True)
        dev["onnx"] = evaluate(dev_corpora, NerModel(out / "onnx", threads=threads).predict)
        meta["dev_strict_f1"] = {k: headline(v) for k, v in dev.items()}
        log.info("dev strict F1: %s", meta["dev_strict_f1"])
    _write_meta(out, meta)
    _write_meta(out / "onnx", meta)
    return meta


def _write_meta(folder: Path, meta: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{META_FILE}.tmp"
    tmp.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, folder / META_FILE)
