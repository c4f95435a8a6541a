"""``bedside generate``: one prompt through a catalog model, optionally constrained."""

from __future__ import annotations

from pathlib import Path

import typer

from bedside.cli.common import ConfigOpt, DbOpt, echo_json, settings_from
from bedside.errors import InputError
from bedside.runtime import GenerationParams, Runtime
from bedside.runtime.structured import load_schema, parse_choices
from bedside.textio import read_text


def _read_prompt(prompt: str | None, prompt_file: Path | None) -> str:
    if prompt_file is not None:
        return read_text(prompt_file, "prompt file")
    if prompt is None:
        raise InputError("no prompt: give PROMPT or --file FILE")
    return prompt


def generate(
    prompt: str | None = typer.Argument(None, help="The prompt text."),
    model: str | None = typer.Option(None, "--model", "-m", help="Catalog name, alias, or path to a .gguf."),
    schema: Path | None = typer.Option(None, "--schema", help="JSON Schema file: print a JSON value valid against it."),
    choices: str | None = typer.Option(None, "--choices", help="Comma-separated answers: print exactly one of them."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", min=1, help="Generation budget in tokens."),
    system: str | None = typer.Option(None, "--system", help="System message."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="Sampling temperature (0: greedy)."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    raw: bool = typer.Option(False, "--raw", help="Plain completion without the chat template (base models)."),
    prompt_file: Path | None = typer.Option(None, "--file", "-f", help="Read the prompt from a file ('-' for stdin)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON record (text, value, tokens, audit id)."),
    task: str = typer.Option("generate", "--task", help="Task name recorded in the audit trail."),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """Generate text; with --schema print JSON valid against the schema, with --choices one choice."""
    if schema is not None and choices is not None:
        raise InputError("give either --schema or --choices, not both")
    text = _read_prompt(prompt, prompt_file)
    parsed_schema = load_schema(schema) if schema is not None else None
    parsed_choices = parse_choices(choices) if choices is not None else None
    settings = settings_from(config, audit_db=db)
    budget = max_tokens or (max(settings.max_tokens, 512) if parsed_schema is not None else settings.max_tokens)
    params = GenerationParams(max_tokens=budget, temperature=temperature, seed=seed)
    with Runtime(settings) as rt:
        result = rt.generate(
            text, model=model, system=system, schema=parsed_schema, choices=parsed_choices,
            params=params, task=task, caller="cli", raw=raw,
        )
    if as_json:
        gen = result.generation
        echo_json({
            "model": result.model, "model_sha256": result.model_sha256, "text": result.text,
            "value": result.value, "finish_reason": gen.finish_reason if gen else None,
            "prompt_tokens": gen.prompt_tokens if gen else None,
            "completion_tokens": gen.completion_tokens if gen else None,
            "duration_ms": round(result.duration_ms, 1), "audit_id": result.audit_id,
        })
    elif parsed_schema is not None:
        echo_json(result.value)
    elif parsed_choices is not None:
        typer.echo(result.value)
    else:
        typer.echo(result.text)
