"""``bedside pretrain``: continual pre-training of a small model on a domain corpus of text files.

Two objectives, picked from the base model's config unless given (``auto``):

- ``clm`` (decoders): LoRA on all linear layers, next-token loss on every token of packed blocks
  (``corpus``), the LoRA training loop and export of ``adapt lora``: merged GGUF for llama.cpp,
  ``hf/``, ``adapter/``, ``bedside-adapt.json`` (method ``continual-pretrain-clm``) and catalog
  entries, published atomically at ``--out``.
- ``mlm`` (encoders: BERT and kin): full fine-tuning with BERT's masking (``mlm``). ``--out`` is
  an HF folder (``config.json``, ``model.safetensors``, the base's tokenizer files,
  ``bedside-pretrain.json``) that ``bedside train ner --base`` takes as it is. A base without a
  masked-LM head (e.g. ``minilm``, saved as a plain ``BertModel``) gets one initialised at random;
  the metadata lists those weights.

Both measure the held-out loss and perplexity before and after training (masked-LM: on fixed
masks). Everything that needs no model (options, the output folder, the corpus) is checked first;
then, as for ``adapt lora``, a checkpoint of another run in ``<out>.partial/`` is refused and the
peak memory is estimated before the weights load (``bedside.adapt.memory``; full fine-tuning for
``mlm``), and the run checkpoints as it goes and resumes exactly (``bedside.adapt.checkpoint``).
Under ``torchrun`` / ``accelerate launch`` every process trains (``bedside.adapt.distributed``) and
rank 0 alone evaluates and writes ``--out``, as for ``adapt lora``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bedside.adapt import corpus as cp
from bedside.adapt import distributed, mlm
from bedside.adapt.checkpoint import Checkpoints, open_checkpoints
from bedside.adapt.lora import LoraParams, evaluate_loss, params_dict, pick_device, set_threads, train
from bedside.adapt.memory import check_memory, peak_bytes
from bedside.adapt.run import (
    Clock,
    base_summary,
    building,
    catalog_entries,
    causal_model,
    check_export,
    check_out,
    describe,
    open_causal,
    write_lora_result,
    write_meta,
)
from bedside.catalog import Catalog, Resolver, sha256_file
from bedside.errors import InputError

if TYPE_CHECKING:
    from bedside.catalog.spec import ModelSpec
    from bedside.config import Settings

log = logging.getLogger("bedside.adapt")

OBJECTIVES = ("auto", "clm", "mlm")
DEFAULT_LR = {"clm": 1e-4, "mlm": 5e-5}  # LoRA on a decoder / every weight of an encoder
DEFAULT_MAX_LEN = {"clm": 256, "mlm": 128}
# model_type values of encoders trained with a masked-LM objective.
ENCODER_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "distilbert", "electra", "deberta", "deberta-v2",
                           "albert", "camembert", "mpnet", "modernbert", "megatron-bert", "ernie", "nomic_bert"})
MLM_FORMAT = "bedside-pretrain/1"
MLM_META_FILE = "bedside-pretrain.json"
# The base's tokenizer, copied unchanged: NER training reads tokenizer.json, transformers the rest.
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json",
                    "merges.txt", "added_tokens.json", "sentencepiece.bpe.model", "spm.model")


@dataclass
class PretrainJob:
    model: str
    corpus: list[Path]
    out: Path
    eval_corpus: list[Path] = field(default_factory=list)  # replaces the held-out fraction
    eval_fraction: float = 0.05  # of the documents, drawn with the seed
    objective: str = "auto"
    lr: float = 0.0  # 0: DEFAULT_LR of the objective
    max_len: int = 0  # tokens a block; 0: DEFAULT_MAX_LEN of the objective
    epochs: float = 1.0
    max_steps: int = 0
    batch_size: int = 8
    seed: int = 13
    time_limit_min: float = 0.0
    threads: int = 0
    device: str = "auto"
    rank: int = 16  # LoRA, clm only
    alpha: float = 0.0
    dropout: float = 0.05
    targets: str = "all-linear"
    mask_prob: float = 0.15  # mlm only
    gguf_type: str = "q8_0"  # export, clm only
    export_gguf: bool = True
    export_hf: bool = True
    name: str | None = None
    overwrite: bool = False
    deid: bool = True  # as for adapt lora: weights can memorise and later emit their training text
    strict: bool = False  # a bad file or line is an error instead of skipped and counted
    force: bool = False  # train even when the memory estimate exceeds what is available
    resume: bool | None = None  # None: resume a checkpoint of this same run if any; False: discard it
    checkpoint_every: int = 0  # steps; 0: every 200 steps or 5 minutes

    def params(self, objective: str) -> LoraParams:
        return LoraParams(
            rank=self.rank, alpha=self.alpha, dropout=self.dropout, targets=self.targets,
            lr=self.lr or DEFAULT_LR[objective], epochs=self.epochs, max_steps=self.max_steps,
            batch_size=self.batch_size, max_len=self.max_len or DEFAULT_MAX_LEN[objective],
            weight_decay=0.01 if objective == "mlm" else 0.0, seed=self.seed, time_limit_min=self.time_limit_min,
            threads=self.threads, device=self.device,
        )


@dataclass
class _Data:
    corpus: cp.Corpus
    eval_corpus: cp.Corpus | None
    train: list[cp.Document]
    eval: list[cp.Document]


def run_pretrain(job: PretrainJob, settings: Settings, *, progress: bool = True) -> dict[str, Any]:
    """Check, read, train, export and describe; returns the metadata written next to the model."""
    from bedside.ner.meta import git_revision

    started = time.time()
    clock = Clock()
    revision = git_revision()
    objective = _check(job, settings)
    p = job.params(objective)
    data = _read(job, settings)
    clock.mark("read")
    set_threads(p, settings.threads)
    if objective == "clm":
        return _clm(job, p, data, settings, clock, started, revision, progress)
    return _mlm(job, p, data, settings, clock, started, revision)


# -- checks and data --------------------------------------------------------------------------------
def _check(job: PretrainJob, settings: Settings) -> str:
    """Every check that needs no model; returns the objective."""
    if job.objective not in OBJECTIVES:
        raise InputError(f"--objective must be one of {', '.join(OBJECTIVES)}, not {job.objective!r}")
    if not 0 <= job.eval_fraction < 1:
        raise InputError("--eval-fraction must be in [0, 1)")
    if not 0 < job.mask_prob < 1:
        raise InputError("--mask-prob must be in (0, 1)")
    spec = Catalog.load(settings.models).get(job.model)  # UnknownModelError now, not after torch imports
    objective = detect_objective(spec, settings) if job.objective == "auto" else job.objective
    if objective == "mlm" and spec.format == "gguf":
        raise InputError(f"model '{spec.name}' is a GGUF decoder: masked-LM training needs an HF encoder "
                         "(e.g. minilm), or use --objective clm")
    job.params(objective).check()
    if objective == "clm":
        check_export(job.gguf_type, job.export_gguf, job.export_hf)
    check_out(job.out, job.overwrite)
    return objective


def detect_objective(spec: ModelSpec, settings: Settings) -> str:
    """mlm for an encoder's config, clm otherwise (a GGUF is always a decoder here). Cheap: no hashing."""
    if spec.format == "gguf":
        return "clm"
    folder = Resolver(settings.cache_dir, settings.data_dir, allow_network=False).locate(spec)
    return model_kind(_config(folder / "config.json")) if folder and folder.is_dir() else "clm"


def model_kind(config: dict[str, Any]) -> str:
    return "mlm" if config.get("model_type") in ENCODER_TYPES and not config.get("is_decoder") else "clm"


def _config(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the model config ({exc})") from exc


def _check_config(config: dict[str, Any], objective: str, max_len: int, name: str) -> None:
    kind, model_type = model_kind(config), config.get("model_type", "?")
    if kind != objective:
        what = "an encoder" if kind == "mlm" else "not an encoder"
        raise InputError(f"model '{name}' is {what} (model_type {model_type}): use --objective {kind}")
    limit = config.get("max_position_embeddings")
    if isinstance(limit, int) and max_len > limit:
        raise InputError(f"--max-len {max_len} exceeds the {limit} positions of model '{name}'")


def _read(job: PretrainJob, settings: Settings) -> _Data:
    corpus = cp.read_corpus(job.corpus, "corpus", strict=job.strict)
    eval_corpus = cp.read_corpus(job.eval_corpus, "eval corpus", strict=job.strict) if job.eval_corpus else None
    if job.deid:
        corpus = cp.deidentified(corpus, settings)
        eval_corpus = cp.deidentified(eval_corpus, settings) if eval_corpus else None
    if eval_corpus:
        return _Data(corpus, eval_corpus, corpus.documents, eval_corpus.documents)
    train_docs, eval_docs = cp.held_out(corpus.documents, job.eval_fraction, job.seed)
    if not eval_docs and job.eval_fraction > 0:
        log.warning("one document only: nothing held out to measure on; give --eval FILE for a held-out loss")
    return _Data(corpus, None, train_docs, eval_docs)


def _pack(pack_fn: Any, tokenizer: Any, data: _Data, max_len: int) -> tuple[cp.Packed, cp.Packed | None]:
    train_pack = cp.packed_or_error(pack_fn, tokenizer, data.train, max_len, "corpus")
    eval_pack = pack_fn(tokenizer, data.eval, max_len) if data.eval else None
    if eval_pack is not None and not eval_pack.examples:
        log.warning("held-out text: %d tokens, fewer than a block; no held-out loss", eval_pack.tokens)
        eval_pack = None
    log.info("training on %d blocks of %d tokens from %d documents", len(train_pack.examples), max_len,
             len(data.train))
    return train_pack, eval_pack


def _data_meta(job: PretrainJob, data: _Data, train_pack: cp.Packed, eval_pack: cp.Packed | None,
               settings: Settings) -> dict[str, Any]:
    return {
        "corpus": data.corpus.summary(),
        "eval_corpus": data.eval_corpus.summary() if data.eval_corpus else None,
        "held_out": None if data.eval_corpus else {"fraction": job.eval_fraction, "seed": job.seed,
                                                   "documents": len(data.eval)},
        "train": {"sha256": data.corpus.sha256, **train_pack.summary()},
        "eval": eval_pack.summary() if eval_pack else None,
        "deid": settings.outbound_deid_mode if job.deid else "off",
    }


def _checkpoints(job: PretrainJob, base_sha256: str, data: _Data, settings: Settings) -> Checkpoints:
    """The run's checkpoints, opened (a checkpoint of another run is refused before the weights load)."""
    return open_checkpoints(job, base_sha256=base_sha256, data_sha256=data.corpus.sha256,
                            deid=settings.outbound_deid_mode if job.deid else "off")


def _name(job: PretrainJob, base_name: str) -> str:
    stem = Path(base_name).stem if base_name.endswith(".gguf") else Path(base_name).name
    return job.name or f"{stem}-{job.out.resolve().name}"


def _log_eval(evals: dict[str, Any], key: str) -> None:
    log.info("held-out loss %s: %.4f (perplexity %.2f)", key, evals[key]["loss"], evals[key]["perplexity"])


# -- decoders: LoRA, next-token loss ----------------------------------------------------------------
def _clm(job: PretrainJob, p: LoraParams, data: _Data, settings: Settings, clock: Clock, started: float,
         revision: str | None, progress: bool) -> dict[str, Any]:
    base, tokenizer, pad_id = open_causal(job.model, settings, export_gguf=job.export_gguf, progress=progress)
    _check_config(_config(base.hf_dir / "config.json"), "clm", p.max_len, base.spec.name)
    train_pack, eval_pack = _pack(cp.pack_causal, tokenizer, data, p.max_len)
    device = pick_device(p.device).type  # with several processes, joins their group: the steps below agree
    checkpoints = _checkpoints(job, base.sha256, data, settings)
    memory = check_memory(base.hf_dir, p, train_pack.examples, device, force=job.force)
    model = causal_model(base, p.device)
    clock.mark("load")
    main = distributed.is_main()  # rank 0 alone measures and writes; every rank trains
    evals: dict[str, Any] = {}
    if eval_pack and main:
        evals["before"] = evaluate_loss(model, eval_pack.examples, pad_id, p.batch_size)
        _log_eval(evals, "before")
        clock.mark("eval_before")
    result = train(model, train_pack.examples, p, pad_id, checkpoints=checkpoints)
    clock.mark("train")
    if eval_pack and main:
        evals["after"] = evaluate_loss(result.model, eval_pack.examples, pad_id, p.batch_size)
        _log_eval(evals, "after")
        clock.mark("eval_after")
    out = job.out.resolve()
    meta = describe(method="continual-pretrain-clm", name=_name(job, base.spec.name), base_model=base_summary(base),
                    data=_data_meta(job, data, train_pack, eval_pack, settings),
                    hyperparameters={"objective": "clm", **params_dict(p)}, seed=p.seed, result=result,
                    evals=evals, revision=revision)
    meta.update(memory={**memory, "peak_measured_bytes": peak_bytes(device)}, resumed_from_step=result.resumed_from)
    label = Path(job.corpus[0]).name + (f" and {len(job.corpus) - 1} more" if len(job.corpus) > 1 else "")

    def entries(m: dict[str, Any], spec: Any, where: Path) -> str:
        return catalog_entries(m, spec, where, command="bedside pretrain", what="Continual pre-training (LoRA)",
                               data_name=label)

    if main:
        write_lora_result(out, meta, base=base, model=result.model, tokenizer=tokenizer, gguf_type=job.gguf_type,
                          export_gguf=job.export_gguf, export_hf=job.export_hf, data_sha256=data.corpus.sha256,
                          eval_examples=eval_pack.examples if eval_pack else None, pad_id=pad_id,
                          batch_size=p.batch_size, clock=clock, started=started, entries=entries)
        checkpoints.discard()  # published: nothing left to resume
    distributed.barrier()  # the other ranks end once rank 0 has published
    return meta


# -- encoders: full fine-tuning, masked-LM loss -----------------------------------------------------
def _mlm(job: PretrainJob, p: LoraParams, data: _Data, settings: Settings, clock: Clock, started: float,
         revision: str | None) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from bedside.ner.train import resolve_base, seed_everything

    path, sha, name = resolve_base(job.model, settings)
    config = _config(path / "config.json")
    _check_config(config, "mlm", p.max_len, name)
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    train_pack, eval_pack = _pack(cp.pack_masked, tokenizer, data, p.max_len)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    masking = mlm.Masking(tokenizer.mask_token_id, min(len(tokenizer), config.get("vocab_size") or len(tokenizer)),
                          tuple(tokenizer.all_special_ids), job.mask_prob)
    device = pick_device(p.device).type  # with several processes, joins their group: the steps below agree
    checkpoints = _checkpoints(job, sha, data, settings)
    memory = check_memory(path, p, train_pack.examples, device, force=job.force, full=True)
    seed_everything(p.seed)  # a missing head is initialised from torch's generator
    with _quiet_transformers():  # its load report is recorded below instead
        model, info = AutoModelForMaskedLM.from_pretrained(str(path), dtype=torch.float32, local_files_only=True,
                                                           output_loading_info=True)
    model.to(pick_device(p.device))
    head = {"initialised": bool(info["missing_keys"]), "initialised_weights": sorted(info["missing_keys"]),
            "unused_weights": sorted(info["unexpected_keys"])}
    if head["initialised"]:
        log.info("%s has no masked-LM head: %d head weight(s) initialised at random", name,
                 len(head["initialised_weights"]))
    clock.mark("load")
    main = distributed.is_main()  # rank 0 alone measures and writes; every rank trains
    held = mlm.eval_blocks(eval_pack.examples, masking) if eval_pack and main else None
    evals: dict[str, Any] = {}
    if held:
        evals["before"] = mlm.evaluate(model, held, pad_id, p.batch_size)
        _log_eval(evals, "before")
        clock.mark("eval_before")
    result = mlm.train(model, train_pack.examples, p, pad_id, masking, checkpoints=checkpoints)
    clock.mark("train")
    if held:
        evals["after"] = mlm.evaluate(model, held, pad_id, p.batch_size)
        _log_eval(evals, "after")
        clock.mark("eval_after")
    hyper = {"objective": "mlm", **{k: v for k, v in params_dict(p).items()
                                     if k not in ("rank", "alpha", "dropout", "targets")},
             "mask_prob": job.mask_prob, "mask_split": "80% [MASK] / 10% random / 10% unchanged",
             "eval_mask_seed": mlm.EVAL_SEED}
    meta = describe(method="continual-pretrain-mlm", name=_name(job, name), fmt=MLM_FORMAT,
                    base_model={"name": name, "path": str(path), "sha256": sha, "format": "hf",
                                "model_type": config.get("model_type")},
                    data=_data_meta(job, data, train_pack, eval_pack, settings), hyperparameters=hyper,
                    seed=p.seed, result=result, evals=evals, revision=revision)
    meta["mlm_head"] = head
    meta.update(memory={**memory, "peak_measured_bytes": peak_bytes(device)}, resumed_from_step=result.resumed_from)
    if main:
        _write_mlm(job.out.resolve(), meta, model, path, clock, started)
        checkpoints.discard()  # published: nothing left to resume
    distributed.barrier()  # the other ranks end once rank 0 has published
    return meta


def _write_mlm(out: Path, meta: dict[str, Any], model: Any, path: Path, clock: Clock, started: float) -> None:
    with building(out) as tmp:
        model.save_pretrained(tmp, max_shard_size="1000GB")  # one weights file: NER and the catalog pin it
        for file in _TOKENIZER_FILES:
            if (path / file).is_file():
                shutil.copy(path / file, tmp / file)
        weights = tmp / "model.safetensors"
        meta["outputs"]["hf"] = {"path": ".", "weights": weights.name, "bytes": weights.stat().st_size,
                                 "sha256": sha256_file(weights)}
        clock.mark("export_hf")
        write_meta(tmp, meta, clock, started, MLM_META_FILE)


@contextlib.contextmanager
def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
