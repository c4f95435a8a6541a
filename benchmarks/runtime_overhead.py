"""How much bedside's local runtime costs on top of the raw llama.cpp engine.

Two measurements in one run, same model and prompt:

1. Overhead: ``Runtime.generate`` (catalog lookup, request checks, audit row, output parsing) against
   the same request sent straight to the engine. Both paths call the SAME loaded ``xllamacpp.Server``
   (``LlamaCppBackend._server``), so the raw path has by construction the CommonParams that
   ``LlamaCppBackend.warm_up`` sets (n_ctx, threads, batch, ...), and load, memory placement and
   prompt-cache state cannot differ between the two; only bedside's Python layer can. The raw body is
   built once, outside the timings, by the backend's own ``_body`` so the requests are identical.
   Both paths generate exactly ``--max-tokens`` tokens: llama.cpp's ``ignore_eos`` request field is
   added to bedside's request by wrapping the backend instance's ``_body`` (one dict merge per call).
   Calls interleave raw, bedside, raw, bedside... so drift (thermal, other load) hits both alike;
   the headline is the median of the per-pair ratios bedside/raw of wall-clock tokens/s (target >= 0.95).
   "wall - engine ms" (call wall time minus llama.cpp's own prompt + decode time) isolates the fixed
   per-call cost of each path and is the figure least disturbed by other load on the machine.
2. Constraint cost: the same prompt through ``Runtime.generate`` with and without a JSON schema. The
   free calls generate (with ignore_eos) exactly as many tokens as the constrained answer has, so
   time per call is comparable as well as tokens/s. Time to first token needs streaming, which
   ``Runtime`` does not expose: it is measured on the same server with bedside's request body plus
   ``stream: true``, and includes the grammar set-up llama.cpp does per request.

The prompt KV cache stays on (llama.cpp's default, as bedside runs it), so after the warm-up calls the
prompt is mostly cached and the numbers are decode-dominated. Audit rows go to a temporary database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bedside.config import load_settings
from bedside.errors import BedsideError
from bedside.runtime import Constraint, GenerationParams, Message, Runtime

PROMPT = (
    "Summarise this note for the handover in plain English. 67-year-old man admitted with community-"
    "acquired pneumonia of the right lower lobe, moderate severity, on IV amoxicillin. Ex-smoker. "
    "Type 2 diabetes on metformin. Oxygen saturation 93% on 2 L nasal cannula, improving."
)
SCHEMA = {
    "type": "object",
    "properties": {
        "diagnosis": {"type": "string", "maxLength": 80},
        "severity": {"type": "string", "enum": ["mild", "moderate", "severe"]},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "smoking": {"type": "string", "enum": ["never", "former", "current", "unknown"]},
        "antibiotic": {"type": "string", "maxLength": 40},
    },
    "required": ["diagnosis", "severity", "age", "smoking", "antibiotic"],
    "additionalProperties": False,
}
HERE = Path(__file__).resolve().parent


def summary(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=10, method="inclusive") if len(values) > 1 else values * 9
    return {"median": statistics.median(values), "p10": q[0], "p90": q[-1], "n": len(values)}


def machine() -> dict[str, object]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem_kb = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                  if ln.startswith("MemTotal"))
    git = subprocess.run(["git", "-C", str(HERE), "describe", "--always", "--dirty", "--abbrev=40"],
                         capture_output=True, text=True).stdout.strip() or None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kb / 2**20, 1),
            "os": platform.platform(), "python": platform.python_version(),
            "xllamacpp": version("xllamacpp"), "bedside": version("bedside"), "git": git}


def sample(label: str, rep: int, wall: float, tokens: int, engine_ms: float | None) -> dict[str, object]:
    return {"path": label, "rep": rep, "wall_s": wall, "completion_tokens": tokens,
            "tok_per_s": tokens / wall, "engine_ms": engine_ms,
            "host_overhead_ms": None if engine_ms is None else wall * 1000 - engine_ms}


def describe(rows: list[dict], paths: tuple[str, ...]) -> dict[str, dict]:
    keys = ("tok_per_s", "wall_s", "host_overhead_ms", "ttft_s")
    return {"paths": {p: {k: summary([r[k] for r in rows if r["path"] == p]) for k in keys
                          if all(r.get(k) is not None for r in rows if r["path"] == p)} for p in paths}}


def paired(rows: list[dict], num: str, den: str, key: str) -> dict[str, float]:
    """Ratio within each interleaved pair, so slow drift cancels out."""
    a = [r[key] for r in rows if r["path"] == num]
    b = [r[key] for r in rows if r["path"] == den]
    return summary([x / y for x, y in zip(a, b, strict=True)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2", help="catalog model name (default: smollm2)")
    ap.add_argument("--reps", type=int, default=10, help="timed repetitions per path (default: 10)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls per path first (default: 2)")
    ap.add_argument("--max-tokens", type=int, default=128, help="fixed generation length (default: 128)")
    ap.add_argument("--schema-max-tokens", type=int, default=256,
                    help="budget for the constrained answer; it must finish the JSON (default: 256)")
    ap.add_argument("--threads", type=int, default=None, help="engine threads (default: bedside setting)")
    ap.add_argument("--out", type=Path, default=HERE / "results",
                    help="folder for runtime_overhead.json/.md (default: benchmarks/results)")
    args = ap.parse_args(argv)
    if args.reps < 1 or args.max_tokens < 1 or args.warmup < 0:
        ap.error("--reps and --max-tokens must be >= 1, --warmup >= 0")

    tmp = tempfile.TemporaryDirectory(prefix="bedside-bench-")
    settings = load_settings(audit_db=Path(tmp.name) / "audit.sqlite3", threads=args.threads)
    rt = Runtime(settings, progress=False)
    loaded = rt.load(args.model)
    backend = loaded.backend
    if backend.name != "llamacpp":
        sys.exit(f"model '{args.model}' runs on backend '{backend.name}'; this benchmark needs llamacpp")
    backend.warm_up()
    server = backend._server
    extra: dict[str, object] = {}  # request fields bedside has no parameter for (ignore_eos)
    build_body = backend._body
    backend._body = lambda params, constraint: {**build_body(params, constraint), **extra}

    messages = [Message("user", PROMPT).as_dict()]

    def bedside(params: GenerationParams, schema: dict | None = None) -> tuple[float, int, float | None]:
        t0 = time.perf_counter()
        res = rt.generate(PROMPT, model=args.model, params=params, schema=schema, caller="benchmark")
        wall = time.perf_counter() - t0
        return wall, res.generation.completion_tokens, res.generation.engine_ms

    def raw(body: dict) -> tuple[float, int, float | None]:
        t0 = time.perf_counter()
        out = server.handle_chat_completions(body)
        wall = time.perf_counter() - t0
        t = out["timings"]
        return wall, out["usage"]["completion_tokens"], t["prompt_ms"] + t["predicted_ms"]

    def first_token_s(params: GenerationParams, schema: dict | None) -> float:
        constraint = Constraint(schema=schema) if schema is not None else None
        body = {**backend._body(params, constraint), "messages": messages, "stream": True}
        first: list[float] = []

        def on_chunk(chunk: dict) -> None:  # the first chunk only carries the role: wait for text
            if not first and any(c.get("delta", {}).get("content") for c in chunk.get("choices", [])):
                first.append(time.perf_counter())

        t0 = time.perf_counter()
        server.handle_chat_completions(body, on_chunk)
        return first[0] - t0

    # -- 1. bedside vs raw engine, fixed length ----------------------------------------------------
    params = GenerationParams(max_tokens=args.max_tokens, temperature=0.0)
    extra["ignore_eos"] = True
    raw_body = {**backend._body(params, None), "messages": messages}
    for _ in range(args.warmup):
        raw(raw_body)
        bedside(params)
    overhead: list[dict] = []
    for rep in range(args.reps):
        overhead.append(sample("raw", rep, *raw(raw_body)))
        overhead.append(sample("bedside", rep, *bedside(params)))
    if any(s["completion_tokens"] != args.max_tokens for s in overhead):
        print("warning: some calls did not generate exactly --max-tokens tokens", file=sys.stderr)

    # -- 2. schema-constrained vs free, same length ------------------------------------------------
    cparams = GenerationParams(max_tokens=args.schema_max_tokens, temperature=0.0)
    fparams = GenerationParams(max_tokens=1, temperature=0.0)  # set to the JSON answer's length below

    def constrained() -> tuple[float, int, float | None]:
        extra.clear()  # ignore_eos would forbid the end token the grammar requires after the JSON
        return bedside(cparams, SCHEMA)

    def free() -> tuple[float, int, float | None]:
        extra["ignore_eos"] = True
        return bedside(fparams)

    fparams.max_tokens = n_json = constrained()[1]  # also the constrained path's first warm-up call
    for _ in range(args.warmup):
        constrained()
        free()
    constraint: list[dict] = []
    for rep in range(args.reps):  # each streamed call takes the request fields of the call before it
        constraint.append(sample("json_schema", rep, *constrained()))
        constraint[-1]["ttft_s"] = first_token_s(cparams, SCHEMA)
        constraint.append(sample("free", rep, *free()))
        constraint[-1]["ttft_s"] = first_token_s(fparams, None)
    backend._body = build_body
    rt.close()
    tmp.cleanup()

    result = {
        "benchmark": "runtime_overhead",
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": {"name": loaded.spec.name, "file": backend.path.name, "sha256": loaded.sha256},
        "parameters": {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                       "engine_threads": settings.threads or os.cpu_count(), "n_ctx": backend.context_length,
                       "gpu_layers": settings.gpu_layers, "temperature": 0.0, "prompt": PROMPT,
                       "schema": SCHEMA, "constrained_tokens": n_json},
        "summary": {
            "overhead": {**describe(overhead, ("raw", "bedside")), "target_ratio": 0.95,
                         "ratio_tok_per_s": paired(overhead, "bedside", "raw", "tok_per_s")},
            "constraint": {**describe(constraint, ("free", "json_schema")),
                           "ratio_tok_per_s": paired(constraint, "json_schema", "free", "tok_per_s"),
                           "ratio_wall_s": paired(constraint, "json_schema", "free", "wall_s")},
        },
        "samples": {"overhead": overhead, "constraint": constraint},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runtime_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "runtime_overhead.md").write_text(report(result))
    print(report(result))
    return 0


def fmt(st: dict | None, scale: float = 1.0, digits: int = 2) -> str:
    if st is None:
        return "n/a"
    mid, lo, hi = (f"{st[k] * scale:.{digits}f}" for k in ("median", "p10", "p90"))
    return f"{mid} ({lo}–{hi})"


def table(section: dict) -> list[str]:
    cols = {"tok_per_s": ("tokens/s (wall)", 1), "wall_s": ("ms/call", 1000),
            "host_overhead_ms": ("wall − engine ms", 1), "ttft_s": ("first token ms", 1000)}
    shown = [k for k in cols if any(k in d for d in section["paths"].values())]
    return [f"| path | {' | '.join(cols[k][0] for k in shown)} |", "|---" * (len(shown) + 1) + "|",
            *(f"| {p} | {' | '.join(fmt(d.get(k), cols[k][1]) for k in shown)} |"
              for p, d in section["paths"].items())]


def report(r: dict) -> str:
    s, m, params = r["summary"], r["machine"], dict(r["parameters"])
    params.pop("prompt"), params.pop("schema")
    return "\n".join([
        "# Runtime overhead", "", f"`{r['command']}` — {r['date_utc']}", "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}",
        f"- software: Python {m['python']}, xllamacpp {m['xllamacpp']}, bedside {m['bedside']}, "
        f"git {m['git']}",
        f"- model: {r['model']['name']} ({r['model']['file']}, sha256 `{r['model']['sha256']}`)",
        f"- parameters: `{json.dumps(params)}`", "",
        "Median (p10–p90) over the repetitions; ratios are taken within each interleaved pair.", "",
        "## 1. bedside `Runtime.generate` vs raw `xllamacpp.Server` (same server, fixed length)", "",
        *table(s["overhead"]), "",
        f"**bedside / raw tokens/s: {fmt(s['overhead']['ratio_tok_per_s'], digits=3)}** "
        f"(target ≥ {s['overhead']['target_ratio']})", "",
        f"## 2. JSON-schema constrained vs free through bedside ({params['constrained_tokens']} tokens each)",
        "", *table(s["constraint"]), "",
        f"schema / free: tokens/s {fmt(s['constraint']['ratio_tok_per_s'], digits=3)}, "
        f"time per call {fmt(s['constraint']['ratio_wall_s'], digits=3)}", "",
        "All samples: runtime_overhead.json.", "",
    ])


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BedsideError as exc:
        raise SystemExit(f"error: {exc.message}") from None
