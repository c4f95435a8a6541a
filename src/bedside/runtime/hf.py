"""transformers + torch in-process: HF checkpoints, GGUF files dequantized into torch, embedders.

What it is for: exact log-probabilities, scoring choices by likelihood, sentence embeddings, and
the same weights that adaptation trains. For serving text it is slower than llama.cpp, and it has
no constrained decoder: plain transformers cannot force output to match a JSON schema (that needs
a grammar engine such as llama.cpp's LLGuidance or vLLM's guided decoding), so ``json_schema`` is
off and schema requests belong on the llamacpp backend or an endpoint. ``choices`` needs no
grammar: each choice is scored by its log-likelihood and the best one is returned.

Loading: a folder is an HF checkpoint (AutoTokenizer + AutoModelForCausalLM, or AutoModel with
mean pooling for ``role = "embedder"``); a file is a GGUF that transformers dequantizes to float32
(about 4x the file in memory; ~25 s for SmolLM2-135M on 2 cores, mostly the Python GGUF reader).
Nothing is fetched from the network (``local_files_only``), and remote code is never run.

Device: CPU (float32) unless ``settings.gpu_layers != 0`` and CUDA is available; then the whole
model goes to the GPU in the checkpoint's dtype. This keeps the setting's meaning from llama.cpp
(0: CPU only), and there is no partial offload here, so any non-zero ``gpu_layers`` means "all".
``settings.threads > 0`` sets torch's thread count, which is process-wide.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bedside.errors import BackendError, ContextWindowError, InputError, ModelUnavailableError
from bedside.runtime.base import Capabilities, Constraint, Generation, GenerationParams, Message
from bedside.runtime.hf_decode import decode, score_choices
from bedside.textio import check_gguf

if TYPE_CHECKING:
    from bedside.catalog.spec import ModelSpec
    from bedside.config import Settings

EMBED_BATCH = 32


class TransformersBackend:
    name = "transformers"

    def __init__(self, spec: ModelSpec, path: Path | None, settings: Settings):
        if path is None:
            raise ModelUnavailableError(
                f"model '{spec.name}': the transformers backend needs a local HF folder or GGUF file"
            )
        self.spec = spec
        self.path = path
        self.settings = settings
        self.embedding = spec.role == "embedder"
        self._tokenizer: Any = None
        self._model: Any = None
        self._n_ctx: int | None = None
        self._ctx_from_settings = False
        self._eos_ids: set[int] = set()
        self._load_lock = threading.Lock()
        self._call_lock = threading.Lock()  # one request at a time: bounded memory, no thread fights

    # -- loading ---------------------------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        if self.embedding:
            return Capabilities(chat=False, completion=False, embeddings=True)
        # Chat needs a template, which only the tokenizer knows: this loads it (not the weights).
        chat = bool(self._load_tokenizer().chat_template)
        return Capabilities(chat=chat, completion=True, json_schema=False, choices=True, logprobs=True)

    @property
    def context_length(self) -> int | None:
        return self._n_ctx

    @property
    def device(self) -> torch.device:
        if self.settings.gpu_layers != 0 and torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")

    def _source_args(self) -> tuple[str, dict[str, Any]]:
        """(folder, kwargs) for from_pretrained: a GGUF file loads from its folder by file name."""
        if self.path.is_dir():
            return str(self.path), {"local_files_only": True}
        check_gguf(self.path)  # not a folder, so it must be a GGUF file
        return str(self.path.parent), {"local_files_only": True, "gguf_file": self.path.name}

    def _load_tokenizer(self) -> Any:
        with self._load_lock:
            if self._tokenizer is None:
                from transformers import AutoTokenizer

                folder, kwargs = self._source_args()
                try:
                    tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
                except Exception as exc:
                    raise ModelUnavailableError(_load_failure("tokenizer", self.path, exc)) from exc
                if self.spec.chat_template:
                    tokenizer.chat_template = self.spec.chat_template
                self._tokenizer = tokenizer
            return self._tokenizer

    def warm_up(self) -> None:
        tokenizer = self._load_tokenizer()
        with self._load_lock:
            if self._model is not None:
                return
            import transformers

            if self.settings.threads > 0:
                torch.set_num_threads(self.settings.threads)
            folder, kwargs = self._source_args()
            device = self.device
            # CPU: float32, since bf16 matmuls are slow there and blur log-probs. GPU: the checkpoint's
            # own dtype (usually bf16; float32 for a dequantized GGUF).
            kwargs["dtype"] = "auto" if device.type == "cuda" else torch.float32
            auto = transformers.AutoModel if self.embedding else transformers.AutoModelForCausalLM
            try:
                model = auto.from_pretrained(folder, **kwargs).to(device)
            except Exception as exc:
                raise ModelUnavailableError(_load_failure("model", self.path, exc)) from exc
            self._model = model.eval()
            self._n_ctx, self._ctx_from_settings = self._context_window(model.config)
            self._eos_ids = set() if self.embedding else _eos_ids(tokenizer, model)

    def _context_window(self, config: Any) -> tuple[int, bool]:
        """min(model positions, catalog context_length, settings.n_ctx), and whether n_ctx decided it."""
        limits = [v for v in (
            getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None),
            self.spec.context_length,
        ) if v]
        model_limit = min(limits) if limits else self.settings.n_ctx
        if self.embedding:  # settings.n_ctx bounds the generator's KV cache, not an encoder
            return model_limit, False
        return min(model_limit, self.settings.n_ctx), self.settings.n_ctx < model_limit

    def close(self) -> None:
        with self._load_lock:
            on_gpu = self._model is not None and self.device.type == "cuda"
            self._model = None
            self._tokenizer = None
            gc.collect()
            if on_gpu:
                torch.cuda.empty_cache()

    # -- requests --------------------------------------------------------------------------------
    def _check_window(self, n_tokens: int, what: str, *, room: int = 1) -> None:
        assert self._n_ctx is not None
        if n_tokens + room > self._n_ctx:
            fix = "shorten it or raise n_ctx" if self._ctx_from_settings else "shorten it"
            raise ContextWindowError(
                f"{what} is {n_tokens} tokens but model '{self.spec.name}' has a {self._n_ctx}-token "
                f"context window; {fix}"
            )

    def chat(
        self, messages: list[Message], params: GenerationParams, constraint: Constraint | None = None
    ) -> Generation:
        tokenizer = self._load_tokenizer()
        if self.embedding or not tokenizer.chat_template:
            raise BackendError(
                f"model '{self.spec.name}' has no chat template; use raw completion or set chat_template "
                "in its catalog entry"
            )
        try:
            text = tokenizer.apply_chat_template(
                [m.as_dict() for m in messages], tokenize=False, add_generation_prompt=True
            )
        except Exception as exc:  # e.g. a template that rejects the system role
            raise InputError(f"model '{self.spec.name}' chat template rejected the messages: {exc}") from exc
        # The template already holds BOS and the turn markers; adding special tokens would double BOS.
        return self._run(tokenizer(text, add_special_tokens=False)["input_ids"], params, constraint)

    def complete(
        self, prompt: str, params: GenerationParams, constraint: Constraint | None = None
    ) -> Generation:
        if self.embedding:
            raise BackendError(f"model '{self.spec.name}' is an embedder; it does not generate text")
        tokenizer = self._load_tokenizer()
        return self._run(tokenizer(prompt)["input_ids"], params, constraint)

    def _run(
        self, prompt_ids: list[int], params: GenerationParams, constraint: Constraint | None
    ) -> Generation:
        if constraint is not None and constraint.choices is None:
            raise InputError(
                f"model '{self.spec.name}' runs on transformers, which cannot enforce a JSON schema; "
                "use a llamacpp model or an endpoint for schema output"
            )
        self.warm_up()
        with self._call_lock, torch.inference_mode():
            t0 = time.perf_counter()
            if constraint is not None:
                gen = self._choose(prompt_ids, constraint.choices or (), params)
            else:
                self._check_window(len(prompt_ids), "prompt")
                budget = min(params.max_tokens, (self._n_ctx or 0) - len(prompt_ids))
                out = decode(self._model, self._tokenizer, prompt_ids, params, budget=budget,
                             eos_ids=self._eos_ids)
                gen = Generation(out.text, out.finish_reason, len(prompt_ids), out.tokens, out.logprobs)
            gen.engine_ms = (time.perf_counter() - t0) * 1000
            return gen

    def _choose(
        self, prompt_ids: list[int], choices: tuple[str, ...], params: GenerationParams
    ) -> Generation:
        choice_ids = [self._tokenizer(c, add_special_tokens=False)["input_ids"] for c in choices]
        empty = [c for c, ids in zip(choices, choice_ids, strict=True) if not ids]
        if empty:
            raise InputError(f"choice {empty[0]!r} has no tokens")
        self._check_window(len(prompt_ids), "prompt plus the longest choice",
                           room=max(len(ids) for ids in choice_ids))
        scores, details = score_choices(self._model, self._tokenizer, prompt_ids, choice_ids, choices,
                                        params.logprobs)
        best = max(range(len(choices)), key=lambda i: scores[i].logprob)
        return Generation(
            text=json.dumps(choices[best]), finish_reason="stop", prompt_tokens=len(prompt_ids),
            completion_tokens=len(choice_ids[best]), logprobs=details[best] if params.logprobs else None,
            choice_scores=scores,
        )

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not self.embedding:
            raise BackendError(f"model '{self.spec.name}' is not loaded as an embedder (role = embedder)")
        self.warm_up()
        vectors: list[list[float]] = []
        with self._call_lock, torch.inference_mode():
            for start in range(0, len(texts), EMBED_BATCH):
                batch = self._tokenizer(texts[start : start + EMBED_BATCH], padding=True, return_tensors="pt")
                lengths = batch["attention_mask"].sum(dim=1).tolist()
                for i, n in enumerate(lengths):
                    self._check_window(n, f"text {start + i}", room=0)
                batch = batch.to(self._model.device)
                hidden = self._model(**batch).last_hidden_state.float()
                # Mean over real tokens (not padding), then unit length: all-MiniLM's own pooling.
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                vectors.extend(torch.nn.functional.normalize(pooled, dim=-1).cpu().tolist())
        return vectors


def _eos_ids(tokenizer: Any, model: Any) -> set[int]:
    ids: set[int] = set()
    for value in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None),
                  model.config.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(v for v in value if isinstance(v, int))
    return ids


def _load_failure(what: str, path: Path, exc: Exception) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"transformers could not load the {what} from {path}: {type(exc).__name__}: {first_line}"
