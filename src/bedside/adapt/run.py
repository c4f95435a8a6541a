"""``bedside adapt lora``: data -> LoRA training -> merged model for llama.cpp and transformers.

Output folder (built under a temporary name next to it and renamed only when complete, so a
folder at ``--out`` is always a finished result)::

    model.gguf           merged model for the llama.cpp engine (base GGUF, adapted tensors replaced)
    hf/                  merged HF checkpoint (fp32 safetensors + tokenizer) for the transformers backend
    adapter/             the PEFT LoRA adapter alone (a few MB), to train further or merge elsewhere
    bedside-adapt.json   base sha256, data sha256, hyperparameters, per-step losses, eval loss, times
    catalog-entry.toml   [[models]] entries to paste into the config file

With ``qlora`` the base's linear layers are loaded in 4-bit NF4 (bitsandbytes, CUDA only) for
training; the export never merges into those rounded weights: the fp32 base is loaded again on the
CPU and the trained adapter applied to it (:func:`full_precision`).

Under a launcher with several processes (``torchrun`` / ``accelerate launch``, ``distributed``) every
process trains; rank 0 alone evaluates, exports and writes the folder, the others wait for it at a
barrier and return the same metadata without outputs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bedside.adapt import distributed
from bedside.adapt import records as rec
from bedside.adapt.features import Example, Prepared, prepare
from bedside.adapt.gguf_export import TYPES, export_gguf
from bedside.adapt.lora import (
    LoraParams,
    LossFn,
    TrainResult,
    evaluate_loss,
    evaluate_with_weights,
    params_dict,
    pick_device,
    set_threads,
    train,
)
from bedside.catalog import Catalog, sha256_file
from bedside.errors import InputError

if TYPE_CHECKING:
    from bedside.adapt.base import Base
    from bedside.config import Settings

log = logging.getLogger("bedside.adapt")

FORMAT = "bedside-adapt/1"
META_FILE = "bedside-adapt.json"
ENTRY_FILE = "catalog-entry.toml"
GGUF_FILE = "model.gguf"
HF_DIR = "hf"
ADAPTER_DIR = "adapter"
_EXTRA_LIBS = ("peft", "gguf", "xllamacpp", "accelerate", "safetensors")


@dataclass
class LoraJob:
    model: str
    data: Path
    out: Path
    eval_data: Path | None = None
    task: str | None = None  # read data/eval_data as this evaluation task's files
    template: str = "auto"
    params: LoraParams = field(default_factory=LoraParams)
    gguf_type: str = "q8_0"
    export_gguf: bool = True
    export_hf: bool = True
    name: str | None = None  # catalog name of the result
    overwrite: bool = False
    # Training text is de-identified first (the settings' outbound_deid_mode): weights can memorise
    # and later emit what they were trained on. Off only for data already de-identified or synthetic.
    deid: bool = True
    strict: bool = False  # a malformed line stops the run (default: skipped and counted)
    force: bool = False  # train even when the memory estimate exceeds what is available
    resume: bool | None = None  # None: resume a checkpoint of this same run if any; False: discard it
    checkpoint_every: int = 0  # steps; 0: every 200 steps or 5 minutes
    qlora: bool = False  # train on the base in 4-bit NF4 (bitsandbytes, CUDA); export from the fp32 base


def _records(job: LoraJob, path: Path, what: str, settings: Settings) -> rec.RecordSet:
    records = (rec.task_records(job.task, path, settings, what, strict=job.strict) if job.task
               else rec.read_jsonl(path, what, strict=job.strict))
    return deidentified(records, settings) if job.deid else records


def deidentified(records: rec.RecordSet, settings: Settings) -> rec.RecordSet:
    """The records with every message de-identified; the data hash stays the file's (provenance)."""
    from bedside.deid.guard import deidentify_messages

    out = []
    for r in records.records:
        clean = deidentify_messages([{"role": m.role, "content": m.content} for m in r.messages], settings)
        out.append(rec.Record(tuple(rec.Message(m["role"], m["content"]) for m in clean), r.source))
    return rec.RecordSet(out, records.path, records.sha256, records.skipped)


def check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError(f"--out {out} exists and is not empty; choose another folder or pass --overwrite")


def check_export(gguf_type: str, export_gguf: bool, export_hf: bool) -> None:
    if gguf_type not in TYPES:
        raise InputError(f"--gguf-type must be one of {', '.join(TYPES)}")
    if not (export_gguf or export_hf):
        raise InputError("nothing to export: keep GGUF or HF export on")


class Clock:
    """Seconds per phase, for the metadata."""

    def __init__(self) -> None:
        self.last = time.time()
        self.phases: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        now = time.time()
        self.phases[phase] = round(now - self.last, 1)
        self.last = now


def check_qlora(device: str) -> None:
    """Refuse ``--qlora`` (before any model loads) where it cannot run, naming what is missing:
    bitsandbytes' 4-bit layers need a CUDA GPU and the ``bitsandbytes`` package."""
    import importlib.util

    import torch

    missing = []
    if device == "cpu":
        missing.append("a CUDA GPU (--device cpu was given)")
    elif not torch.cuda.is_available():
        missing.append("a CUDA GPU (torch sees none)")
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("the bitsandbytes package (pip install 'bedside[qlora]')")
    if missing:
        raise InputError(f"--qlora (4-bit NF4 base weights) needs {' and '.join(missing)}; "
                         "train without --qlora (fp32 base weights) instead")


def _read_inputs(job: LoraJob, settings: Settings) -> tuple[rec.RecordSet, rec.RecordSet | None]:
    """Every check that needs no model: a bad line should fail in a second, not after a conversion."""
    job.params.check()
    check_export(job.gguf_type, job.export_gguf, job.export_hf)
    check_out(job.out, job.overwrite)
    Catalog.load(settings.models).get(job.model)  # UnknownModelError now, not after torch imports
    train_set = _records(job, job.data, "training data", settings)
    eval_set = _records(job, job.eval_data, "eval data", settings) if job.eval_data else None
    return train_set, eval_set


@dataclass
class Objective:
    """What a variant of LoRA training changes (distillation, ``bedside.adapt.distill``): the loss,
    numbers measured beside the eval loss before and after training, and metadata."""

    method: str
    loss_fn: LossFn | None = None  # None: the completion cross-entropy
    measure: Callable[[Any, list[Example]], dict[str, Any]] | None = None  # (model, eval examples) -> numbers
    evals: dict[str, Any] = field(default_factory=dict)  # more entries of "eval" (e.g. the teacher's loss)
    meta: dict[str, Any] = field(default_factory=dict)  # more top-level metadata

    def evaluate(self, model: Any, examples: list[Example], pad_id: int, batch_size: int) -> dict[str, Any]:
        numbers = evaluate_loss(model, examples, pad_id, batch_size)
        return {**numbers, **self.measure(model, examples)} if self.measure else numbers


def run_lora(job: LoraJob, settings: Settings, *, progress: bool = True,
             objective: Callable[..., Objective] | None = None) -> dict[str, Any]:
    """Train, export and describe; returns the metadata written to ``bedside-adapt.json``.

    ``objective`` (called with ``tokenizer``, ``model``, ``train``, ``eval`` (Prepared or None) and
    ``pad_id`` once the base is loaded) changes the training objective; default plain SFT.
    """
    from bedside.adapt.checkpoint import open_checkpoints
    from bedside.adapt.memory import check_memory, peak_bytes
    from bedside.ner.meta import git_revision

    started = time.time()
    clock = Clock()
    revision = git_revision()
    p = job.params
    train_set, eval_set = _read_inputs(job, settings)
    if job.qlora:
        check_qlora(p.device)

    set_threads(p, settings.threads)
    base, tokenizer, pad_id = open_causal(job.model, settings, export_gguf=job.export_gguf, progress=progress)
    train_prep = prepare(tokenizer, train_set.records, template=job.template, max_len=p.max_len)
    eval_prep = prepare(tokenizer, eval_set.records, template=job.template, max_len=p.max_len) if eval_set else None
    _warn_left_out(train_prep, "training")
    log.info("training on %d examples (%d target tokens), template %s", len(train_prep.examples),
             train_prep.summary()["target_tokens"], train_prep.template)
    device = pick_device(p.device).type  # with several processes, joins their group: the steps below agree
    checkpoints = open_checkpoints(job, base_sha256=base.sha256, data_sha256=train_set.sha256,
                                   deid=settings.outbound_deid_mode if job.deid else "off")
    memory = check_memory(base.hf_dir, p, train_prep.examples, device, force=job.force,  # before the model loads
                          qlora=job.qlora)
    model = causal_model(base, p.device, qlora=job.qlora)
    extra = (objective(tokenizer=tokenizer, model=model, train=train_prep, eval=eval_prep, pad_id=pad_id)
             if objective else Objective("lora-sft"))
    clock.mark("load")

    main = distributed.is_main()  # rank 0 alone measures and writes; every rank trains
    evals: dict[str, Any] = {}
    if eval_prep and main:
        evals["before"] = extra.evaluate(model, eval_prep.examples, pad_id, p.batch_size)
        log.info("eval loss before: %.4f", evals["before"]["loss"])
        clock.mark("eval_before")
    evals.update(extra.evals)
    result = train(model, train_prep.examples, p, pad_id, loss_fn=extra.loss_fn, checkpoints=checkpoints)
    clock.mark("train")
    if eval_prep and main:
        evals["after"] = extra.evaluate(result.model, eval_prep.examples, pad_id, p.batch_size)
        log.info("eval loss after: %.4f", evals["after"]["loss"])
        clock.mark("eval_after")

    out = job.out.resolve()
    meta = describe(
        method=extra.method, name=job.name or f"{base.spec.name}-{out.name}", base_model=base_summary(base),
        data={"train": _data_summary(train_set, train_prep),
              "eval": _data_summary(eval_set, eval_prep) if eval_set and eval_prep else None,
              "task": job.task, "deid": settings.outbound_deid_mode if job.deid else "off"},
        hyperparameters=params_dict(p), seed=p.seed, result=result, evals=evals, revision=revision,
    )
    meta.update(extra.meta)
    meta.update(memory={**memory, "peak_measured_bytes": peak_bytes(device)}, resumed_from_step=result.resumed_from)
    if job.qlora:
        meta["quantization"] = QLORA
    if main:
        trained = full_precision(base, result.model, p) if job.qlora else result.model
        write_lora_result(out, meta, base=base, model=trained, tokenizer=tokenizer, gguf_type=job.gguf_type,
                          export_gguf=job.export_gguf, export_hf=job.export_hf, data_sha256=train_set.sha256,
                          eval_examples=eval_prep.examples if eval_prep else None, pad_id=pad_id,
                          batch_size=p.batch_size, clock=clock, started=started)
        checkpoints.discard()  # published: nothing left to resume
    distributed.barrier()  # the other ranks end once rank 0 has published
    return meta


# -- shared with continual pre-training (``bedside.adapt.pretrain``) ---------------------------------
def open_causal(model: str, settings: Settings, *, export_gguf: bool, progress: bool) -> tuple[Base, Any, int]:
    """(base, tokenizer, pad id) of a decoder to adapt; refuses GGUF export from an HF base up front."""
    from transformers import AutoTokenizer

    from bedside.adapt.base import resolve_base

    base = resolve_base(model, settings, progress=progress)
    if export_gguf and base.gguf is None:
        raise InputError(f"model '{base.spec.name}' is an HF folder: GGUF export needs a GGUF base "
                         "(use --no-gguf, and llama.cpp's convert_hf_to_gguf.py on hf/ if needed)")
    tokenizer = AutoTokenizer.from_pretrained(str(base.hf_dir), local_files_only=True)
    if base.spec.chat_template:
        tokenizer.chat_template = base.spec.chat_template
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    return base, tokenizer, pad_id


# What ``--qlora`` loads (QLoRA's recipe), recorded as the metadata's "quantization".
QLORA = {"base_weights": "nf4", "double_quantization": True, "compute_dtype": "bfloat16",
         "quantized": "the decoder layers' linear weights (bitsandbytes Linear4bit)",
         "export": "trained adapter applied to the fp32 base, then merged"}


def causal_model(base: Base, device: str, *, qlora: bool = False) -> Any:
    """The base in fp32 on ``device``; with ``qlora``, its linear layers in 4-bit NF4 on the GPU,
    prepared for training by peft (the other weights in fp32, gradient checkpointing on)."""
    import torch
    from transformers import AutoModelForCausalLM

    where = pick_device(device)
    if not qlora:
        return AutoModelForCausalLM.from_pretrained(str(base.hf_dir), dtype=torch.float32,
                                                    local_files_only=True).to(where)
    from peft import prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig

    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=torch.bfloat16)
    index = where.index if where.index is not None else torch.cuda.current_device()
    model = AutoModelForCausalLM.from_pretrained(str(base.hf_dir), quantization_config=config, dtype=torch.float32,
                                                 device_map={"": index}, local_files_only=True)
    # Non-reentrant checkpointing: the reentrant kind marks weights ready twice under DistributedDataParallel.
    return prepare_model_for_kbit_training(model, gradient_checkpointing_kwargs={"use_reentrant": False})


def full_precision(base: Base, trained: Any, p: LoraParams) -> Any:
    """The trained adapter of a 4-bit (``--qlora``) model applied to the fp32 base, on the CPU: what
    the export merges, so the exported weights are the base's own plus the LoRA delta, not the
    4-bit rounding of the base."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    from bedside.adapt.lora import with_lora

    model = with_lora(causal_model(base, "cpu"), p)
    state = {k: v.detach().float().cpu() for k, v in get_peft_model_state_dict(trained).items()}
    loaded = set_peft_model_state_dict(model, state)
    unfit = [*loaded.unexpected_keys, *(k for k in loaded.missing_keys if "lora_" in k)]
    if unfit:
        raise RuntimeError(f"the trained adapter does not fit the fp32 base: {unfit[:3]}")
    return model.eval()


def base_summary(base: Base) -> dict[str, Any]:
    return {"name": base.spec.name, "path": str(base.path), "sha256": base.sha256,
            "format": "gguf" if base.gguf else "hf"}


def describe(*, method: str, name: str | None, base_model: dict[str, Any], data: dict[str, Any],
             hyperparameters: dict[str, Any], seed: int, result: TrainResult, evals: dict[str, Any],
             revision: str | None, fmt: str = FORMAT) -> dict[str, Any]:
    """The metadata every adaptation writes: what went in, how it was trained, what came out."""
    k = max(1, len(result.losses) // 10)  # first/last tenth of the steps: single steps are noisy
    return {
        "format": fmt,
        "method": method,
        "name": name,
        "base_model": base_model,
        "data": data,
        "hyperparameters": hyperparameters,
        "seed": seed,
        "device": result.device,
        "world_size": result.world_size,  # processes that trained together (data parallel)
        "effective_batch_size": result.effective_batch_size,  # records a step, over all of them
        "trainable_parameters": result.trainable_parameters,
        "total_parameters": result.total_parameters,
        "steps": result.steps,
        "steps_planned": result.steps_planned,
        "epochs_done": result.epochs_done,
        "stopped_by": result.stopped_by,
        "train_seconds": result.train_seconds,
        "loss_first": round(sum(result.losses[:k]) / k, 5),
        "loss_last": round(sum(result.losses[-k:]) / k, 5),
        "losses": result.losses,
        "eval": evals,
        "outputs": {},
        "git_revision": revision,
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


@contextlib.contextmanager
def building(out: Path) -> Iterator[Path]:
    """A temporary folder next to ``out``, moved to ``out`` only when the block completes."""
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        _publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_meta(folder: Path, meta: dict[str, Any], clock: Clock, started: float, file: str = META_FILE) -> None:
    meta["seconds"] = clock.phases
    meta["total_seconds"] = round(time.time() - started, 1)
    (folder / file).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_lora_result(out: Path, meta: dict[str, Any], *, base: Base, model: Any, tokenizer: Any, gguf_type: str,
                      export_gguf: bool, export_hf: bool, data_sha256: str, eval_examples: list[Example] | None,
                      pad_id: int, batch_size: int, clock: Clock, started: float,
                      entries: Callable[[dict[str, Any], Any, Path], str] | None = None) -> None:
    """adapter/, model.gguf, hf/, the metadata and catalog entries of a trained LoRA ``model``, published
    at ``out`` only when all are written. ``meta["eval"]`` gains the GGUF weights' loss."""
    with building(out) as tmp:
        model.save_pretrained(tmp / ADAPTER_DIR)
        meta["outputs"]["adapter"] = {"path": ADAPTER_DIR}
        if export_gguf:
            assert base.gguf is not None
            meta["outputs"]["gguf"] = _export_gguf(base, model, tmp, method=meta["method"], gguf_type=gguf_type,
                                                   data_sha256=data_sha256, evals=meta["eval"],
                                                   eval_examples=eval_examples, pad_id=pad_id, batch_size=batch_size)
            clock.mark("export_gguf")
        if export_hf:  # last: merging removes the LoRA layers the GGUF export reads
            merged = model.merge_and_unload()
            merged.save_pretrained(tmp / HF_DIR, max_shard_size="1000GB")  # one file: the entry pins it
            tokenizer.save_pretrained(tmp / HF_DIR)
            weights = tmp / HF_DIR / "model.safetensors"
            meta["outputs"]["hf"] = {"path": HF_DIR, "weights": weights.name, "bytes": weights.stat().st_size,
                                     "sha256": sha256_file(weights)}
            clock.mark("export_hf")
        write_meta(tmp, meta, clock, started)
        (tmp / ENTRY_FILE).write_text((entries or catalog_entries)(meta, base.spec, out), encoding="utf-8")


def _export_gguf(base: Base, model: Any, tmp: Path, *, method: str, gguf_type: str, data_sha256: str,
                 evals: dict[str, Any], eval_examples: list[Example] | None, pad_id: int,
                 batch_size: int) -> dict[str, Any]:
    exported = export_gguf(base.gguf, model, tmp / GGUF_FILE, out_type=gguf_type, extra={
        "bedside.adapt.method": f"{method} merged",
        "bedside.adapt.base_sha256": base.sha256,
        "bedside.adapt.data_sha256": data_sha256,
    }, keep_written=eval_examples is not None)
    if eval_examples:
        # The model the engine runs: the file's rounded weights, not the fp32 merge.
        evals["gguf_weights"] = evaluate_with_weights(model, exported.written, eval_examples, pad_id, batch_size)
        log.info("eval loss with the GGUF's weights: %.4f", evals["gguf_weights"]["loss"])
    return {"path": GGUF_FILE, "bytes": (tmp / GGUF_FILE).stat().st_size, "sha256": sha256_file(tmp / GGUF_FILE),
            **exported.stats}


def _publish(tmp: Path, out: Path) -> None:
    """Move the finished folder to ``out``; an old result there is replaced only now."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _data_summary(records: rec.RecordSet, prep: Prepared) -> dict[str, Any]:
    return {"path": records.path, "sha256": records.sha256, "records": len(records.records), **prep.summary(),
            "skipped_lines": records.skipped_summary()}


def _warn_left_out(prep: Prepared, what: str) -> None:
    if prep.too_long:
        log.warning("%s: left out %d record(s) longer than --max-len; first: %s", what, len(prep.too_long),
                    prep.too_long[0])


def _versions() -> dict[str, str | None]:
    from bedside.ner.meta import versions

    return versions(*_EXTRA_LIBS)


# method -> (command, description) for the catalog entry's provenance, so a distilled student says so.
_MADE_BY = {
    "lora-sft": ("bedside adapt lora", "LoRA fine-tune"),
    "lora-distill-token": ("bedside distill token", "Token-level distillation (LoRA)"),
    "lora-grounded": ("bedside distill grounded", "Grounded LoRA fine-tune"),
}


def catalog_entries(meta: dict[str, Any], base_spec: Any, out: Path, *, command: str | None = None,
                    what: str | None = None, data_name: str | None = None) -> str:
    """TOML ``[[models]]`` entries for the exported files, for the user's config file."""
    made_command, made_what = _MADE_BY.get(meta.get("method", ""), _MADE_BY["lora-sft"])
    command, what = command or made_command, what or made_what
    q = json.dumps  # a JSON string is a valid TOML basic string
    data_name = data_name or Path(meta["data"]["train"]["path"]).name
    provenance = (f"{command} of {base_spec.name} (sha256 {meta['base_model']['sha256'][:12]}) on "
                  f"{data_name} (sha256 {meta['data']['train']['sha256'][:12]}), {meta['steps']} steps")
    blocks = []
    for key, backend, fmt, suffix in (("gguf", "llamacpp", "gguf", ""), ("hf", "transformers", "hf", "-hf")):
        output = meta["outputs"].get(key)
        if not output:
            continue
        lines = [
            "[[models]]",
            f"name = {q(meta['name'] + suffix)}",
            f"description = {q(what + ' of ' + base_spec.name + ' (merged)')}",
            f"role = {q(base_spec.role)}",
            f"backend = {q(backend)}",
            f"format = {q(fmt)}",
        ]
        if base_spec.parameters:
            lines.append(f"parameters = {q(base_spec.parameters)}")
        if base_spec.context_length:
            lines.append(f"context_length = {base_spec.context_length}")
        if base_spec.chat_template:
            lines.append(f"chat_template = {q(base_spec.chat_template)}")
        lines += [
            f"sha256 = {q(output['sha256'])}",
            f"size_bytes = {output['bytes']}",
            f"license = {q(base_spec.license)}",
            f"provenance = {q(provenance)}",
            "[models.source]",
            'kind = "file"',
            f"path = {q(str(out / output['path']))}",
        ]
        if key == "hf":
            lines.append(f"weights = {q(output['weights'])}")
        blocks.append("\n".join(lines))
    header = "# Paste into the bedside config file (see docs/configuration.md) to use these by name.\n"
    return header + "\n\n".join(blocks) + "\n"
