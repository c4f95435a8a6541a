"""The one protocol every model engine implements.

A backend is constructed cheaply and loads its model lazily (``warm_up``). It declares what it
can do in ``Capabilities``; callers check those instead of catching NotImplementedError.
Structured output is requested through ``Constraint`` and each backend translates it into what
its engine expects (llama.cpp ``response_format``, vLLM ``guided_json``, Ollama ``format``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class Capabilities:
    chat: bool = True
    completion: bool = True
    json_schema: bool = False
    choices: bool = False
    logprobs: bool = False
    embeddings: bool = False
    streaming: bool = False


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Constraint:
    """Restrict the output: to JSON valid against ``schema``, or to exactly one of ``choices``."""

    schema: dict[str, Any] | None = None
    choices: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if (self.schema is None) == (self.choices is None):
            raise ValueError("a Constraint takes exactly one of schema or choices")

    @property
    def kind(self) -> str:
        return "json_schema" if self.schema is not None else "choices"

    def as_json_schema(self) -> dict[str, Any]:
        """Choices as a JSON schema (a string enum): the form every engine understands."""
        if self.schema is not None:
            return self.schema
        return {"type": "string", "enum": list(self.choices or ())}


@dataclass
class GenerationParams:
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: list[str] = field(default_factory=list)
    repetition_penalty: float = 1.0  # 1.0: off
    logprobs: int = 0  # 0: none; k>0: the sampled token's log-prob and the top-k alternatives

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p,
            "seed": self.seed, "stop": list(self.stop), "repetition_penalty": self.repetition_penalty,
            "logprobs": self.logprobs,
        }


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ChoiceScore:
    """How likely the model finds one choice after the prompt (backends that score choices)."""

    choice: str
    logprob: float  # sum of the choice's token log-probs: the score the choice is picked by
    tokens: int

    @property
    def mean_logprob(self) -> float:
        """Length-normalised score: compares choices that tokenize to different lengths more fairly."""
        return self.logprob / max(self.tokens, 1)


@dataclass
class Generation:
    text: str
    finish_reason: str  # "stop" | "length" | ...
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    logprobs: list[TokenLogprob] | None = None
    engine_ms: float | None = None  # time the engine reports for prompt + generation
    choice_scores: list[ChoiceScore] | None = None  # one per choice, in the order given, when scored


@runtime_checkable
class Backend(Protocol):
    name: str  # registered backend name, e.g. "llamacpp"
    capabilities: Capabilities

    def warm_up(self) -> None:
        """Load the model. Idempotent; called lazily by the other methods."""

    @property
    def context_length(self) -> int | None:
        """Tokens of context the loaded model accepts (None: unknown, e.g. a remote endpoint)."""

    def chat(
        self, messages: list[Message], params: GenerationParams, constraint: Constraint | None = None
    ) -> Generation: ...

    def complete(
        self, prompt: str, params: GenerationParams, constraint: Constraint | None = None
    ) -> Generation: ...

    def embed(self, texts: list[str]) -> list[list[float]]: ...

    def close(self) -> None: ...
