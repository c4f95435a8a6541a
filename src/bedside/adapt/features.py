"""Records -> token ids and labels, with the loss on completion tokens only.

With a chat template, the text is exactly what inference sends: the template renders the whole
conversation, and an assistant turn's characters are those the template adds between "prompt up
to this turn (with the generation prompt)" and "conversation up to and including this turn" (so
the end-of-turn marker is learned too: the model learns to stop). The full text is tokenized once
and a token is a target when it starts inside an assistant span; tokenizing pieces separately
would give different tokens at the seams than inference sees.

Without a chat template (base models) the text is ``prompt + completion`` followed by the EOS
token, and the targets are the completion and EOS.

Labels use -100 for context tokens (the convention of transformers' loss). A record longer than
``max_len`` is left out and counted, not cut: a cut prompt is not a prompt the model will be given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bedside.adapt.records import Record
from bedside.errors import InputError

IGNORE = -100


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]
    source: str

    @property
    def n_targets(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


@dataclass
class Prepared:
    examples: list[Example]
    template: str  # "chat" or "raw"
    too_long: list[str] = field(default_factory=list)  # sources of records left out

    def summary(self) -> dict[str, Any]:
        return {
            "examples": len(self.examples),
            "left_out_too_long": len(self.too_long),
            "tokens": sum(len(e.input_ids) for e in self.examples),
            "target_tokens": sum(e.n_targets for e in self.examples),
            "template": self.template,
        }


def choose_template(tokenizer: Any, requested: str) -> str:
    if requested not in ("auto", "chat", "raw"):
        raise InputError(f"template must be auto, chat or raw, not {requested!r}")
    has_chat = bool(getattr(tokenizer, "chat_template", None))
    if requested == "chat" and not has_chat:
        raise InputError("the model has no chat template; use --template raw (prompt/completion records)")
    if requested == "auto":
        return "chat" if has_chat else "raw"
    return requested


def chat_spans(tokenizer: Any, record: Record) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns."""
    msgs = [{"role": m.role, "content": m.content} for m in record.messages]

    def render(upto: int, generation_prompt: bool) -> str:
        try:
            return tokenizer.apply_chat_template(msgs[:upto], tokenize=False,
                                                 add_generation_prompt=generation_prompt)
        except Exception as exc:  # a template that rejects e.g. a system role or role order
            raise InputError(f"{record.source}: the chat template rejected the messages: {exc}") from exc

    full = render(len(msgs), False)
    spans = []
    for i, m in enumerate(record.messages):
        if m.role != "assistant":
            continue
        before, upto = render(i, True), render(i + 1, False)
        # Templates that rewrite earlier turns (e.g. drop reasoning) make spans ambiguous: refuse.
        if not upto.startswith(before) or not full.startswith(upto):
            raise InputError(
                f"{record.source}: the chat template does not render the conversation as a growing prefix; "
                "use one prompt/completion per record"
            )
        spans.append((len(before), len(upto)))
    return full, spans


def encode_record(tokenizer: Any, record: Record, template: str) -> Example:
    if template == "chat":
        text, spans = chat_spans(tokenizer, record)
        # The template already holds BOS and the turn markers; special tokens would double BOS.
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        eos: list[int] = []
    else:
        prompt, completion = record.raw_pair
        text, spans = prompt + completion, [(len(prompt), len(prompt) + len(completion))]
        enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
        if tokenizer.eos_token_id is None:
            raise InputError("the tokenizer has no EOS token: a raw completion could not learn to stop")
        eos = [tokenizer.eos_token_id]
    ids = list(enc["input_ids"]) + eos
    labels = [IGNORE] * len(enc["input_ids"])
    for k, (start, end) in enumerate(enc["offset_mapping"]):
        if end > start and any(a <= start < b for a, b in spans):
            labels[k] = ids[k]
    labels += eos
    if labels and labels[0] != IGNORE:
        labels[0] = IGNORE  # nothing precedes the first token, so nothing can predict it
    return Example(ids, labels, record.source)


def prepare(tokenizer: Any, records: list[Record], *, template: str = "auto", max_len: int = 512) -> Prepared:
    """Encode every record; refuse data in which nothing is left to learn."""
    chosen = choose_template(tokenizer, template)
    out = Prepared([], chosen)
    for record in records:
        example = encode_record(tokenizer, record, chosen)
        if len(example.input_ids) > max_len:
            out.too_long.append(record.source)
        elif example.n_targets == 0:
            raise InputError(f"{record.source}: the answer has no tokens after templating")
        else:
            out.examples.append(example)
    if not out.examples:
        raise InputError(
            f"all {len(records)} record(s) are longer than {max_len} tokens; raise --max-len"
            if out.too_long else "no records to train on"
        )
    return out
