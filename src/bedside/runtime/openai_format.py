"""Parse OpenAI-format responses (llama.cpp in-process and any OpenAI-compatible server alike)."""

from __future__ import annotations

import json
from typing import Any

from bedside.errors import BackendError
from bedside.runtime.base import Generation, TokenLogprob


def _logprobs(choice: dict[str, Any]) -> list[TokenLogprob] | None:
    lp = choice.get("logprobs")
    if not lp:
        return None
    if isinstance(lp, dict) and "content" in lp:  # chat format (and llama.cpp's completions)
        items = lp["content"] or []
        return [
            TokenLogprob(
                token=i.get("token", ""),
                logprob=float(i.get("logprob", 0.0)),
                top=tuple(
                    (t.get("token", ""), float(t.get("logprob", 0.0))) for t in i.get("top_logprobs") or ()
                ),
            )
            for i in items
        ]
    if isinstance(lp, dict) and "tokens" in lp:  # legacy completions format (vLLM, OpenAI)
        tops = lp.get("top_logprobs") or [None] * len(lp["tokens"])
        return [
            TokenLogprob(
                token=tok, logprob=float(val if val is not None else 0.0),
                top=tuple((k, float(v)) for k, v in (top or {}).items()),
            )
            for tok, val, top in zip(lp["tokens"], lp.get("token_logprobs") or [], tops, strict=False)
        ]
    return None


def _common(result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        choice = result["choices"][0]
    except (KeyError, IndexError, TypeError) as exc:
        raise BackendError(f"engine returned no choices: {str(result)[:200]}") from exc
    return choice, result.get("usage") or {}


def _engine_ms(result: dict[str, Any]) -> float | None:
    t = result.get("timings")
    if not t:
        return None
    return float(t.get("prompt_ms", 0.0)) + float(t.get("predicted_ms", 0.0))


def parse_chat_response(result: dict[str, Any]) -> Generation:
    choice, usage = _common(result)
    message = choice.get("message") or {}
    return Generation(
        text=message.get("content") or "",
        finish_reason=choice.get("finish_reason") or "stop",
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        logprobs=_logprobs(choice),
        engine_ms=_engine_ms(result),
    )


def parse_completion_response(result: dict[str, Any]) -> Generation:
    choice, usage = _common(result)
    return Generation(
        text=choice.get("text") or "",
        finish_reason=choice.get("finish_reason") or "stop",
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        logprobs=_logprobs(choice),
        engine_ms=_engine_ms(result),
    )


def parse_embeddings_response(result: dict[str, Any]) -> list[list[float]]:
    try:
        rows = sorted(result["data"], key=lambda d: d.get("index", 0))
        return [list(map(float, r["embedding"])) for r in rows]
    except (KeyError, TypeError, ValueError) as exc:
        raise BackendError(f"engine returned no usable embeddings: {str(result)[:200]}") from exc


def error_message(body: str) -> str:
    """The server's own error text from an error response body (OpenAI, vLLM, Ollama, FastAPI shapes)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(err.get(key), str):
                    return err[key]
        elif isinstance(err, str):
            return err
        if isinstance(data.get("detail"), str):
            return data["detail"]
    return body
