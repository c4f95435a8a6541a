"""Training objectives for ``bedside distill token`` and ``bedside distill grounded``: loss functions
that replace the completion cross-entropy in :func:`bedside.adapt.lora.train`.

Both see the batch exactly as the plain LoRA loss does (labels -100 on the context, the LM head
applied only where the next token is a target) and add one term at those target positions.

**token** (:func:`token_kl_loss`), with teacher ``q`` and student ``p`` over the shared vocabulary::

    loss = (1 - alpha) * CE(p, gold) + alpha * T^2 * KL(softmax(z_q / T) || softmax(z_p / T))

averaged over target positions. The teacher runs under ``no_grad`` on the same token ids.

**grounded** (:func:`grounded_loss`): let S(x) be the tokens an example may use freely: its own
context tokens (input ids whose label is -100 and mask 1: system text, findings, retrieved passages,
template markers), the ``common_ids`` (the N most frequent target tokens of the training set:
formatting and function words) and the special tokens. At a target position with student
distribution p, the unsupported mass is u = sum of p(v) over v not in S(x), and::

    loss = CE(p, gold) + lam * mean over P of -log(1 - u)

where P is the set of target positions whose gold token is in S(x). ``-log(1 - u)`` is computed as
``logsumexp(z[S]) - logsumexp(z)`` negated: exact, and with no epsilon needed. Positions whose gold
token is unsupported (the reference itself says something the context does not) are left out of
the penalty, which would otherwise push mass away from the very token the CE pulls it towards.
Because the gold is in S at every position in P, ``-log(1 - u) <= -log p(gold)``: the penalty never
exceeds the CE at the same position, and the two share their minimum (all mass on the gold).

Defaults (docs/distillation.md has the measurements):

- alpha 0.5: the gold answers keep the student right where the teacher is wrong (a small local
  teacher often is), the KL adds the teacher's whole distribution at every position.
- T 1: the KL then compares the distributions generation samples from. Higher T spreads the
  teacher's mass over its long tail, which for a 49k-262k vocabulary is mostly noise.
- lam 2, N 0: measured on IU X-ray findings -> impression (benchmarks/results/grounded_demo_findings*,
  SmolLM2, 40 steps): with lam 0.5 and the 50 most frequent answer tokens free (the first choice:
  punctuation, function words and the stock "No acute cardiopulmonary abnormality") groundedness did
  not move (-0.05, 60 reports), because word pieces of invented findings ("asis", "elect", "aly") were
  among the free tokens; with N 0 and lam 2 it rose 0.628 -> 0.822 on 316 held-out reports (paired
  +0.193, 95% CI +0.135 to +0.248) with ROUGE-L unchanged. The bound above still holds at lam 2.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from bedside.adapt.features import IGNORE, Example
from bedside.adapt.lora import LossFn, batched_sum, target_logits
from bedside.errors import InputError

DEFAULT_ALPHA = 0.5
DEFAULT_TEMPERATURE = 1.0
DEFAULT_LAM = 2.0
DEFAULT_COMMON = 0


# -- token-level -----------------------------------------------------------------------------------
def kl_rows(student_logits, teacher_logits, temperature: float = 1.0, vocab_size: int | None = None):
    """KL(teacher || student) of the temperature-softened distributions, one value per row.

    Both are cut to ``vocab_size`` first: embedding matrices are often padded past the tokenizer
    (to a multiple of 64 or 128), and those rows are no token of either model.
    """
    import torch.nn.functional as F

    v = vocab_size or min(student_logits.shape[-1], teacher_logits.shape[-1])
    log_p = F.log_softmax(student_logits[:, :v] / temperature, dim=-1)
    log_q = F.log_softmax(teacher_logits[:, :v].float() / temperature, dim=-1)
    return (log_q.exp() * (log_q - log_p)).sum(-1)


def token_kl_loss(teacher: Any, alpha: float = DEFAULT_ALPHA, temperature: float = DEFAULT_TEMPERATURE, *,
                  vocab_size: int | None = None) -> LossFn:
    """``(1 - alpha) * CE + alpha * T^2 * KL(teacher || student)`` at target positions (module notes).

    ``teacher`` is a frozen model on the student's device; ``vocab_size`` is the tokenizer's size
    (see :func:`check_same_tokenizer`). T^2 keeps the KL's gradient on the CE's scale for any T
    (Hinton et al. 2015), so alpha means the same mix at every temperature.
    """
    import torch
    import torch.nn.functional as F

    check_token_options(alpha, temperature)

    def loss(model: Any, input_ids, attention_mask, labels):
        logits, targets, _ = target_logits(model, input_ids, attention_mask, labels)
        n = max(len(targets), 1)
        ce = F.cross_entropy(logits, targets, reduction="sum") / n
        if alpha == 0:  # plain SFT: the teacher need not run
            return ce
        with torch.no_grad():
            teacher_logits, _, _ = target_logits(teacher, input_ids, attention_mask, labels)
        kl = kl_rows(logits, teacher_logits, temperature, vocab_size).sum() / n
        return (1 - alpha) * ce + alpha * temperature**2 * kl

    return loss


def check_token_options(alpha: float, temperature: float) -> None:
    if not 0 <= alpha <= 1:
        raise InputError(f"--kl-weight must be in [0, 1], not {alpha}")
    if temperature <= 0:
        raise InputError(f"--temperature must be > 0, not {temperature}")


def check_same_tokenizer(student_tok: Any, teacher_tok: Any, *, teacher_vocab: int | None = None,
                         student_vocab: int | None = None) -> int:
    """The number of token ids the two models share; InputError naming the first difference.

    Token-level distillation compares distributions id by id, so the token -> id maps must be the
    same and the BOS/EOS/UNK ids too (the EOS is a target: it teaches the model to stop). Padding
    is not compared: padded positions carry no loss. ``teacher_vocab`` / ``student_vocab`` are the
    rows of each model's output layer: the teacher's must cover every id the student can emit.
    """
    ours, theirs = student_tok.get_vocab(), teacher_tok.get_vocab()
    for token, i in sorted(ours.items(), key=lambda kv: kv[1]):
        if theirs.get(token) != i:
            where = f"id {theirs[token]}" if token in theirs else "missing"
            raise InputError(f"the teacher's tokenizer differs from the student's: token {token!r} is id {i} in the "
                             f"student, {where} in the teacher; token-level distillation needs one tokenizer "
                             "(use sequence-level distillation)")
    extra = sorted((i, t) for t, i in theirs.items() if t not in ours)
    if extra:
        raise InputError(f"the teacher's tokenizer differs from the student's: token {extra[0][1]!r} (id "
                         f"{extra[0][0]}) is only in the teacher's ({len(extra)} such); token-level distillation "
                         "needs one tokenizer (use sequence-level distillation)")
    for what in ("bos_token_id", "eos_token_id", "unk_token_id"):
        a, b = getattr(student_tok, what, None), getattr(teacher_tok, what, None)
        if a != b:
            raise InputError(f"the teacher's tokenizer differs from the student's: {what} is {a} in the student, "
                             f"{b} in the teacher")
    size = len(student_tok)
    if student_vocab is not None:
        size = min(size, student_vocab)  # ids past the student's output layer are never predicted
    if teacher_vocab is not None and teacher_vocab < size:
        raise InputError(f"the teacher's output layer has {teacher_vocab} rows, fewer than the {size} tokens "
                         "the student predicts")
    return size


# -- grounded --------------------------------------------------------------------------------------
def common_target_ids(examples: Iterable[Example], n: int, special_ids: Iterable[int] = ()) -> list[int]:
    """The ``n`` most frequent target token ids (ties by id, so the set is reproducible), plus ``special_ids``."""
    counts = Counter(t for e in examples for t in e.labels if t != IGNORE)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return sorted({t for t, _ in top} | set(special_ids))


def supported_log_mass(logits, targets, rows, input_ids, attention_mask, labels, common):
    """Per target position: log of the probability mass on supported tokens, and whether the gold is supported.

    ``common`` is a 1-d long tensor of ids every example may use. One small gather per example (its
    context plus the common ids), not a [positions, vocab] mask: Gemma's vocabulary is 262k.
    """
    import torch

    log_mass = torch.empty_like(targets, dtype=logits.dtype)
    gold_ok = torch.empty_like(targets, dtype=torch.bool)
    context = (labels == IGNORE) & (attention_mask == 1)
    total = torch.logsumexp(logits, dim=-1)
    for b in rows.unique().tolist():
        at = rows == b
        allowed = torch.cat([input_ids[b][context[b]], common]).unique()
        log_mass[at] = torch.logsumexp(logits[at][:, allowed], dim=-1) - total[at]
        gold_ok[at] = torch.isin(targets[at], allowed)
    return log_mass, gold_ok


def grounded_loss(lam: float = DEFAULT_LAM, common_ids: Iterable[int] = ()) -> LossFn:
    """``CE + lam * mean_P -log(1 - u)`` (module notes); ``common_ids`` from :func:`common_target_ids`."""
    import torch
    import torch.nn.functional as F

    check_grounded_options(lam, 0)
    common_list = sorted(set(common_ids))

    def loss(model: Any, input_ids, attention_mask, labels):
        logits, targets, rows = target_logits(model, input_ids, attention_mask, labels)
        ce = F.cross_entropy(logits, targets, reduction="sum") / max(len(targets), 1)
        if lam == 0:
            return ce
        common = torch.tensor(common_list, dtype=torch.long, device=input_ids.device)
        log_mass, gold_ok = supported_log_mass(logits, targets, rows, input_ids, attention_mask, labels, common)
        penalty = -log_mass[gold_ok].sum() / max(int(gold_ok.sum()), 1)
        return ce + lam * penalty

    return loss


def check_grounded_options(lam: float, common_tokens: int) -> None:
    if lam < 0:
        raise InputError(f"--lam must be >= 0, not {lam}")
    if common_tokens < 0:
        raise InputError(f"--common-tokens must be >= 0, not {common_tokens}")


# -- evaluation ------------------------------------------------------------------------------------
Measure = Callable[..., tuple[float, int]]  # (logits, targets, rows, ids, mask, labels) -> (sum, count)


def token_mean(model: Any, examples: list[Example], pad_id: int, batch_size: int, measure: Measure) -> float:
    """``measure`` summed over the target positions of ``examples`` and divided by its count, dropout off."""
    def run(ids: Any, mask: Any, labels: Any) -> tuple[float, int]:
        logits, targets, rows = target_logits(model, ids, mask, labels)
        return measure(logits, targets, rows, ids, mask, labels)

    total, count = batched_sum(model, examples, pad_id, batch_size, run)
    return round(total / max(count, 1), 5)


def kl_to_teacher(teacher: Any, vocab_size: int | None = None) -> Measure:
    """Mean KL(teacher || student) at T = 1, the distributions generation samples from."""
    import torch

    def measure(logits, targets, rows, ids, mask, labels):
        with torch.inference_mode():
            teacher_logits, _, _ = target_logits(teacher, ids, mask, labels)
        return float(kl_rows(logits, teacher_logits, 1.0, vocab_size).sum()), len(targets)

    return measure


def unsupported_mass(common_ids: Iterable[int]) -> Measure:
    """Mean u (probability on unsupported tokens) over the positions the grounded penalty covers."""
    import torch

    common_list = sorted(set(common_ids))

    def measure(logits, targets, rows, ids, mask, labels):
        common = torch.tensor(common_list, dtype=torch.long, device=ids.device)
        log_mass, gold_ok = supported_log_mass(logits, targets, rows, ids, mask, labels, common)
        return float((1 - log_mass[gold_ok].exp()).sum()), int(gold_ok.sum())

    return measure
