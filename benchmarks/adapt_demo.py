"""Fine-tune a bundled small model on one task's train split on CPU, export it, and score it against its base.

Issue 6's demonstration, end to end through the real commands:

1. Symptom2Disease (24 conditions from a patient's description) is split once, seeded, into a
   training part and a held-out dev part (the task ships one labelled file; the harness's own
   default data is never trained on: the dev part is what both models are scored on).
2. ``bedside tune --model smollm2 --task symptom2disease --data train.csv`` trains LoRA on the
   task's own zero-shot prompt with the gold label as the answer (the prompt inference uses, so
   they cannot drift), then writes the merged GGUF that the llama.cpp engine runs.
3. ``bedside eval run`` scores the base GGUF and the tuned GGUF on the dev part with the same
   prompt, constrained decoding and seed; a paired bootstrap over items gives the CI of the
   accuracy difference.

Training time, peak memory and tokens/s come from the tune run's own metadata
(``bedside-adapt.json``: ``train_seconds``, ``memory.peak_measured_bytes``, token counts).

    python benchmarks/adapt_demo.py [--train-n 600] [--epochs 2] [--time-limit 40] [--work DIR]

Writes benchmarks/results/adapt_demo.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).parent / "results"
DATA = Path("../shared/data/classification/symptom2disease_train.csv")
TASK = "symptom2disease"


def split(src: Path, work: Path, train_n: int, seed: int,
          keep: Callable[[dict[str, str]], bool] | None = None) -> tuple[Path, Path, int, int]:
    with src.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows, fields = list(reader), reader.fieldnames or []
    if keep is not None:
        rows = [r for r in rows if keep(r)]
    random.Random(seed).shuffle(rows)
    parts = {"train.csv": rows[:train_n], "dev.csv": rows[train_n:]}
    for name, part in parts.items():
        with (work / name).open("w", newline="", encoding="utf-8") as out:
            w = csv.DictWriter(out, fieldnames=fields)
            w.writeheader()
            w.writerows(part)
    return work / "train.csv", work / "dev.csv", len(parts["train.csv"]), len(parts["dev.csv"])


def bedside(*args: str) -> str:
    cmd = [sys.executable, "-m", "bedside", *args]
    print("$ bedside " + " ".join(args), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"bedside {args[0]} failed with exit code {r.returncode}")
    return r.stdout


def evaluate(model: str, dev: Path, out: Path, seed: int, limit: int, task: str = TASK,
             metric: str = "accuracy") -> tuple[dict, dict[str, float]]:
    """The harness's cell for ``model`` on ``dev``, and each item's ``metric`` (an unscored item: 0)."""
    extra = ["--limit", str(limit)] if limit else []
    cell = json.loads(bedside("eval", "run", "--task", task, "--model", model, "--data", str(dev), "--out", str(out),
                              "--seed", str(seed), "--resamples", "1000", "--json", "--no-progress", "--no-text",
                              *extra))
    cell = cell[0] if isinstance(cell, list) else cell
    items = {}
    for line in (out / "items.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        items[item["item_id"]] = float((item.get("scores") or {}).get(metric) or 0.0)
    return cell, items


def paired_bootstrap(a: dict[str, float], b: dict[str, float], resamples: int, seed: int) -> dict[str, float]:
    """Mean item score of b minus a over the same items, with a 95% percentile CI from resampling items."""
    ids = sorted(set(a) & set(b))
    diff = [b[i] - a[i] for i in ids]
    rng = random.Random(seed)
    stats = sorted(sum(rng.choice(diff) for _ in diff) / len(diff) for _ in range(resamples))
    return {"value": round(sum(diff) / len(diff), 4), "ci_low": round(stats[int(0.025 * resamples)], 4),
            "ci_high": round(stats[int(0.975 * resamples) - 1], 4), "items": len(ids)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--train-n", type=int, default=600, help="rows for training; the rest is the dev part")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--time-limit", type=float, default=40.0, help="training minutes (the issue allows 45)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-limit", type=int, default=0, help="score the first N dev rows (0: all)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bedside-adapt-demo"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if not args.data.is_file():
        sys.exit(f"data not found: {args.data} (the shared data folder)")
    args.work.mkdir(parents=True, exist_ok=True)
    train, dev, n_train, n_dev = split(args.data, args.work, args.train_n, args.seed)
    tuned = args.work / "tuned"
    started = time.time()
    # Public data with no patient identifiers: de-identification off (it would only mask disease words).
    summary = json.loads(bedside("tune", "--model", args.model, "--task", TASK, "--data", str(train),
                                 "--out", str(tuned), "--overwrite", "--no-deid", "--epochs", str(args.epochs),
                                 "--time-limit", str(args.time_limit), "--batch-size", str(args.batch_size),
                                 "--lr", str(args.lr), "--seed", str(args.seed), "--no-resume"))
    tune_wall = time.time() - started
    meta = json.loads((tuned / "bedside-adapt.json").read_text(encoding="utf-8"))
    base_cell, base_items = evaluate(args.model, dev, args.work / "eval-base", args.seed,
                                    args.eval_limit)
    tuned_cell, tuned_items = evaluate(str(tuned / "model.gguf"), dev, args.work / "eval-tuned", args.seed,
                                      args.eval_limit)
    diff = paired_bootstrap(base_items, tuned_items, 2000, args.seed)
    train_data = meta["data"]["train"]
    tokens_seen = train_data["tokens"] * meta["epochs_done"]
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "task": TASK, "data": str(args.data), "train_rows": n_train, "dev_rows": n_dev, "split_seed": args.seed,
        "base_model": meta["base_model"],
        "training": {
            "steps": meta["steps"], "epochs_done": meta["epochs_done"], "stopped_by": meta["stopped_by"],
            "train_seconds": meta["train_seconds"], "tune_wall_seconds": round(tune_wall, 1),
            "examples": train_data["examples"], "tokens_per_epoch": train_data["tokens"],
            "target_tokens_per_epoch": train_data["target_tokens"],
            "tokens_per_second": round(tokens_seen / meta["train_seconds"], 1),
            "peak_memory_bytes": (meta.get("memory") or {}).get("peak_measured_bytes"),
            "memory_estimate_bytes": (meta.get("memory") or {}).get("estimate_bytes"),
            "loss_first": meta["loss_first"], "loss_last": meta["loss_last"],
            "hyperparameters": meta["hyperparameters"],
        },
        "gguf": {k: meta["outputs"]["gguf"].get(k) for k in ("bytes", "sha256", "adapted_types")},
        "base": {"metrics": base_cell["metrics"], "latency_ms": base_cell["latency_ms"], "n": base_cell["n"],
                 "n_unparsed": base_cell["n_unparsed"]},
        "tuned": {"metrics": tuned_cell["metrics"], "latency_ms": tuned_cell["latency_ms"], "n": tuned_cell["n"],
                  "n_unparsed": tuned_cell["n_unparsed"]},
        "accuracy_difference": diff,
        "tuned_beats_base_beyond_ci": diff["ci_low"] > 0,
        "summary_printed_by_tune": {k: summary.get(k) for k in ("steps", "train_seconds") if k in summary},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "adapt_demo.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    t = result["training"]

    def training_line(t: dict) -> str:
        peak, est = t["peak_memory_bytes"], t["memory_estimate_bytes"]
        memory = (f"peak memory {peak / 2**30:.2f} GiB" if peak else "peak memory not recorded") + (
            f" (estimated before training: {est / 2**30:.2f} GiB)" if est else "")
        return (f"Training: {t['steps']} steps ({t['epochs_done']} epochs, stopped by {t['stopped_by']}) in "
                f"{t['train_seconds'] / 60:.1f} min on {os.cpu_count()} CPU cores, {t['tokens_per_second']} "
                f"tokens/s; {memory}; training loss {t['loss_first']} → {t['loss_last']}; the whole `bedside tune` "
                f"run (base conversion, training, export) {t['tune_wall_seconds'] / 60:.1f} min.")

    def row(name: str, cell: dict) -> str:
        acc, f1 = cell["metrics"]["accuracy"], cell["metrics"]["macro_f1"]
        return (f"| {name} | {acc['value']:.3f} ({acc['ci_low']:.3f}–{acc['ci_high']:.3f}) | "
                f"{f1['value']:.3f} ({f1['ci_low']:.3f}–{f1['ci_high']:.3f}) | {cell['n_unparsed']} | "
                f"{cell['latency_ms']['p50']:.0f} |")

    lines = [
        f"# `bedside tune` on {TASK}: {args.model} before and after, through the harness",
        "",
        f"{n_train} rows of {args.data.name} for training, the other {n_dev} held out (seeded split {args.seed}); "
        "both models scored on the held-out rows with the task's zero-shot prompt, constrained decoding.",
        "",
        "| model | accuracy (95% CI) | macro-F1 (95% CI) | unparsed | latency p50 ms |",
        "|---|---|---|---|---|",
        row(f"{args.model} (base GGUF)", result["base"]),
        row(f"{args.model} + LoRA, merged GGUF", result["tuned"]),
        "",
        f"Accuracy difference (tuned − base, paired bootstrap over {diff['items']} items): {diff['value']:+.3f} "
        f"(95% CI {diff['ci_low']:+.3f} to {diff['ci_high']:+.3f}); "
        + ("the tuned model is better beyond the CI." if result["tuned_beats_base_beyond_ci"]
           else "NOT better beyond the CI."),
        "",
        training_line(t),
        "",
        f"Command: `{result['command']}` ({result['date']}, load {result['machine']['load_average']}).",
        "",
    ]
    (args.out / "adapt_demo.md").write_text("\n".join(lines), encoding="utf-8")
    print(json.dumps({"base": base_cell["metrics"]["accuracy"], "tuned": tuned_cell["metrics"]["accuracy"],
                      "difference": diff}, indent=1))


if __name__ == "__main__":
    main()
