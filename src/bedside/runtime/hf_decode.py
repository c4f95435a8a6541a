"""Decoding and scoring on a torch causal LM, for the transformers backend (runtime.hf).

A hand-written loop rather than ``model.generate``: it reports the model's own log-probabilities
(before repetition penalty, temperature and top-p reshape the distribution that tokens are picked
from, as llama.cpp and OpenAI report them),
cuts at stop strings with the exact finish reason, and keeps per-token alternatives without
holding every step's full score tensor. Callers run these under ``torch.inference_mode``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from bedside.runtime.base import ChoiceScore, GenerationParams, TokenLogprob

REPEAT_WINDOW = 64  # tokens the repetition penalty looks back over: llama.cpp's repeat_last_n default


@dataclass
class Decoded:
    text: str
    finish_reason: str
    tokens: int  # generated, including any that a stop string cut from the text
    logprobs: list[TokenLogprob] | None


def penalize_repeats(logits: torch.Tensor, recent: list[int], penalty: float) -> torch.Tensor:
    """llama.cpp's repeat penalty: tokens seen recently get their logit pushed toward "less likely"."""
    if penalty == 1.0 or not recent:
        return logits
    seen = torch.tensor(sorted(set(recent)))
    values = logits[seen]
    logits = logits.clone()
    logits[seen] = torch.where(values > 0, values / penalty, values * penalty)
    return logits


def pick_token(logits: torch.Tensor, params: GenerationParams, generator: torch.Generator) -> int:
    """Greedy at temperature 0, else a seeded sample from the temperature/top-p distribution."""
    if params.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        # Keep the smallest head whose mass reaches top_p; the most likely token always stays.
        keep = (sorted_p.cumsum(-1) - sorted_p) < params.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


def token_logprob(tokenizer: Any, logp: torch.Tensor, token: int, k: int) -> TokenLogprob:
    # Special tokens read as "" as in llama.cpp, so the tokens' texts add up to the generated text.
    def text(i: int) -> str:
        return tokenizer.decode([i], skip_special_tokens=True)

    values, ids = logp.topk(min(k, logp.shape[-1]))
    top = tuple((text(int(i)), float(v)) for v, i in zip(values, ids, strict=True))
    return TokenLogprob(text(token), float(logp[token]), top)


def _find_stop(text: str, stops: list[str], start: int) -> int | None:
    hits = [i for s in stops if s and (i := text.find(s, start)) >= 0]
    return min(hits) if hits else None


def decode(
    model: Any, tokenizer: Any, prompt_ids: list[int], params: GenerationParams, *,
    budget: int, eos_ids: set[int],
) -> Decoded:
    """Generate up to ``budget`` tokens after ``prompt_ids``; stop early at EOS or a stop string."""
    device = model.device
    generator = torch.Generator().manual_seed(params.seed)
    out = model(input_ids=torch.tensor([prompt_ids], device=device), use_cache=True)
    generated: list[int] = []
    logprobs: list[TokenLogprob] | None = [] if params.logprobs > 0 else None
    longest_stop = max((len(s) for s in params.stop), default=0)
    text, finish = "", "length"
    while len(generated) < budget:
        logits = out.logits[0, -1].float().cpu()
        recent = (prompt_ids + generated)[-REPEAT_WINDOW:] if params.repetition_penalty != 1.0 else []
        token = pick_token(penalize_repeats(logits, recent, params.repetition_penalty), params, generator)
        if token in eos_ids:
            finish = "stop"
            break
        generated.append(token)
        if logprobs is not None:
            logprobs.append(token_logprob(tokenizer, torch.log_softmax(logits, -1), token, params.logprobs))
        previous = len(text)
        text = tokenizer.decode(generated, skip_special_tokens=True)
        cut = _find_stop(text, params.stop, max(0, previous - longest_stop))
        if cut is not None:
            text, finish = text[:cut], "stop"
            if logprobs is not None:
                del logprobs[_tokens_before(tokenizer, generated, cut):]
            break
        if len(generated) < budget:
            out = model(input_ids=torch.tensor([[token]], device=device),
                        past_key_values=out.past_key_values, use_cache=True)
    return Decoded(text, finish, len(generated), logprobs)


def _tokens_before(tokenizer: Any, ids: list[int], cut: int) -> int:
    """How many leading tokens start before character ``cut`` (the rest lie inside the cut stop string)."""
    keep = len(ids)
    while keep > 0 and len(tokenizer.decode(ids[: keep - 1], skip_special_tokens=True)) >= cut:
        keep -= 1
    return keep


def score_choices(
    model: Any, tokenizer: Any, prompt_ids: list[int], choice_ids: list[list[int]], choices: tuple[str, ...],
    top_k: int,
) -> tuple[list[ChoiceScore], list[list[TokenLogprob]]]:
    """Log-likelihood of each choice's tokens right after the prompt.

    The prompt runs once; each choice continues from a copy of its KV cache, so scoring N choices
    costs one prompt pass plus N short passes. Choices are tokenized on their own and appended to
    the prompt's tokens (as lm-evaluation-harness does), so a token never straddles the boundary.
    """
    device = model.device
    out = model(input_ids=torch.tensor([prompt_ids], device=device), use_cache=True)
    first = out.logits[0, -1:].float()
    scores: list[ChoiceScore] = []
    details: list[list[TokenLogprob]] = []
    for choice, ids in zip(choices, choice_ids, strict=True):
        logits = first
        if len(ids) > 1:
            cont = model(input_ids=torch.tensor([ids[:-1]], device=device),
                         past_key_values=copy.deepcopy(out.past_key_values), use_cache=True)
            logits = torch.cat([first, cont.logits[0].float()])
        logp = torch.log_softmax(logits, dim=-1).cpu()
        per_token = logp[torch.arange(len(ids)), torch.tensor(ids)]
        scores.append(ChoiceScore(choice, float(per_token.sum()), len(ids)))
        if top_k:
            details.append([token_logprob(tokenizer, logp[i], t, top_k) for i, t in enumerate(ids)])
        else:
            details.append([])
    return scores, details
