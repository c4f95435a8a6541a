"""Sequence-level distillation: a larger bundled model labels a task's inputs, SmolLM2 learns from its answers.

Issue 6's distillation demonstration, through the real commands:

1. Symptom2Disease is split exactly as ``adapt_demo.py`` splits it (same seed): the training part
   is the pool of inputs the teacher labels (its gold column is used only to report how often the
   teacher agreed with it; the student never sees it), the held-out part is the dev set.
2. ``bedside distill sequence --teacher T --student smollm2`` has the teacher answer each input
   with the task's prompt and constraint, keeps the answers that pass the task's checks, and
   LoRA-trains the student on them.
3. ``bedside eval run`` scores the teacher, the base student and the distilled student on the dev
   part: how much of the teacher's score the student reaches, at what latency and cost.

    python benchmarks/distill_demo.py [--teacher qwen2.5-1.5b] [--inputs-n 600] [--epochs 2]

Writes benchmarks/results/distill_demo.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from adapt_demo import DATA, OUT, TASK, bedside, evaluate, paired_bootstrap, split  # noqa: E402

# The score reported as "the teacher's score": each task's headline metric.
HEADLINE = {"symptom2disease": "accuracy", "iu_xray_impression": "rouge_l"}


def cell_summary(cell: dict) -> dict:
    return {"metrics": cell["metrics"], "latency_ms": cell["latency_ms"], "n": cell["n"],
            "n_unparsed": cell["n_unparsed"], "cost_per_1k_items": (cell.get("cost") or {}).get("per_1k_items"),
            "peak_rss_mb": cell.get("peak_rss_mb")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default=TASK, choices=sorted(HEADLINE))
    ap.add_argument("--data", type=Path, default=None, help="the task's CSV (default: its shared-data file)")
    ap.add_argument("--teacher", default="qwen2.5-1.5b")
    ap.add_argument("--student", default="smollm2")
    ap.add_argument("--inputs-n", type=int, default=600, help="rows the teacher labels (the rest is dev)")
    ap.add_argument("--label-limit", type=int, default=0, help="label only the first N inputs (0: all)")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--time-limit", type=float, default=40.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-limit", type=int, default=0, help="score the first N dev rows (0: all)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bedside-distill-demo"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    args.data = args.data or (DATA if args.task == TASK else Path("../shared/data/radiology/iu_xray_train.csv"))
    metric = HEADLINE[args.task]
    if not args.data.is_file():
        sys.exit(f"data not found: {args.data} (the shared data folder)")
    args.work.mkdir(parents=True, exist_ok=True)
    inputs, dev, n_inputs, n_dev = split(args.data, args.work, args.inputs_n, args.seed)
    labels, student = args.work / "labels", args.work / "student"
    started = time.time()
    # Public data with no patient identifiers: de-identification off (it would only mask disease words).
    limit = ["--limit", str(args.label_limit)] if args.label_limit else []
    bedside("distill", "sequence", "--task", args.task, "--inputs", str(inputs), "--teacher", args.teacher,
            "--labels", str(labels), "--student", args.student, "--out", str(student), "--no-deid",
            "--epochs", str(args.epochs), "--time-limit", str(args.time_limit), "--seed", str(args.seed),
            "--overwrite", *limit)
    distill_wall = time.time() - started
    labelled = json.loads((labels / "bedside-distill.json").read_text(encoding="utf-8"))
    trained = json.loads((student / "bedside-adapt.json").read_text(encoding="utf-8"))
    cells, items = {}, {}
    for role, model in (("teacher", args.teacher), ("base_student", args.student),
                        ("distilled_student", str(student / "model.gguf"))):
        cell, items[role] = evaluate(model, dev, args.work / f"eval-{role}", args.seed, args.eval_limit,
                                     task=args.task, metric=metric)
        cells[role] = cell_summary(cell)
    acc = {role: c["metrics"][metric]["value"] for role, c in cells.items()}
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "task": args.task, "headline_metric": metric, "data": str(args.data), "input_rows": n_inputs,
        "dev_rows": n_dev, "split_seed": args.seed,
        "teacher": labelled["teacher"], "student_base": trained["base_model"],
        "labelling": {"counts": labelled["counts"], "teacher_vs_gold": labelled.get("teacher_vs_gold"),
                      "seconds": labelled["seconds"], "tokens": labelled.get("tokens"),
                      "latency_ms": labelled.get("latency_ms")},
        "training": {"steps": trained["steps"], "epochs_done": trained["epochs_done"],
                     "train_seconds": trained["train_seconds"], "stopped_by": trained["stopped_by"],
                     "examples": trained["data"]["train"]["examples"],
                     "peak_memory_bytes": (trained.get("memory") or {}).get("peak_measured_bytes")},
        "distill_wall_seconds": round(distill_wall, 1),
        "dev": cells,
        "student_share_of_teacher": round(acc["distilled_student"] / acc["teacher"], 3) if acc["teacher"] else None,
        "base_share_of_teacher": round(acc["base_student"] / acc["teacher"], 3) if acc["teacher"] else None,
        "distilled_minus_base": paired_bootstrap(items["base_student"], items["distilled_student"], 2000, args.seed),
        "distilled_minus_teacher": paired_bootstrap(items["teacher"], items["distilled_student"], 2000, args.seed),
        "paired_difference_of": f"per-item {metric}",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "distill_demo.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")

    names = list(cells["teacher"]["metrics"])

    def fmt(m: dict) -> str:
        if m.get("value") is None:
            return "–"
        ci = f" ({m['ci_low']:.3f}–{m['ci_high']:.3f})" if m.get("ci_low") is not None else ""
        return f"{m['value']:.3f}{ci}"

    def row(name: str, c: dict) -> str:
        cost = c["cost_per_1k_items"]
        return (f"| {name} | " + " | ".join(fmt(c["metrics"][k]) for k in names) + f" | {c['latency_ms']['p50']:.0f} | "
                f"{'' if cost is None else f'{cost:.3f}'} | {c['peak_rss_mb'] or ''} |")

    lab, tr = result["labelling"], result["training"]
    d1, d2 = result["distilled_minus_base"], result["distilled_minus_teacher"]
    lines = [
        f"# Sequence-level distillation on {args.task}: {args.teacher} teaches {args.student}",
        "",
        f"The teacher labelled {lab['counts'].get('items')} of {n_inputs} input rows "
        f"({lab['counts'].get('accepted')} answers accepted, {lab['counts'].get('rejected')} rejected) in "
        f"{lab['seconds'].get('label', 0) / 60:.1f} min; its agreement with the inputs' gold (never shown to the "
        f"student): {json.dumps(lab['teacher_vs_gold'])}. The student trained {tr['steps']} steps "
        f"({tr['epochs_done']} epochs) in {tr['train_seconds'] / 60:.1f} min. Dev: "
        f"{'the first ' + str(args.eval_limit) + ' of ' if args.eval_limit else ''}the other {n_dev} rows "
        "(seeded split), zero-shot prompt, constrained decoding.",
        "",
        "| model | " + " | ".join(f"{k} (95% CI)" for k in names) + " | latency p50 ms | cost / 1,000 items (USD) "
        "| peak RSS MB |",
        "|---|" + "---|" * (len(names) + 3),
        row(f"teacher {args.teacher}", cells["teacher"]),
        row(f"student {args.student}, base", cells["base_student"]),
        row(f"student {args.student}, distilled", cells["distilled_student"]),
        "",
        f"The distilled student reaches {result['student_share_of_teacher']} of the teacher's {metric} (the base "
        f"student {result['base_share_of_teacher']}). Distilled − base: {d1['value']:+.3f} (95% CI {d1['ci_low']:+.3f} "
        f"to {d1['ci_high']:+.3f}); distilled − teacher: {d2['value']:+.3f} ({d2['ci_low']:+.3f} to "
        f"{d2['ci_high']:+.3f}), paired bootstrap over the same items.",
        "",
        f"Command: `{result['command']}` ({result['date']}, {os.cpu_count()} cores, "
        f"load {result['machine']['load_average']}).",
        "",
    ]
    (args.out / "distill_demo.md").write_text("\n".join(lines), encoding="utf-8")
    print(json.dumps({metric: acc, "share": result["student_share_of_teacher"]}, indent=1))


if __name__ == "__main__":
    main()
