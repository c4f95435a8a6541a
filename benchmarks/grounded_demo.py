"""The grounded loss against plain fine-tuning, on findings -> impression, scored by the harness's groundedness.

Same student (SmolLM2-135M), same records (IU X-ray train rows, seeded split as ``adapt_demo.py``),
same steps, seed and LoRA settings; only the objective differs:

- ``bedside tune``: cross-entropy on the radiologist's impression;
- ``bedside distill grounded``: the same plus the penalty on probability given to tokens that are
  neither in the report's findings/indication nor among the frequent answer tokens (docs/distillation.md).

Then ``bedside eval run --task iu_xray_impression`` on held-out rows for base, tuned and grounded:
ROUGE-L, groundedness and hallucination rate (findings the impression states that the findings text
does not support), with bootstrap CIs.

    python benchmarks/grounded_demo.py [--train-n 300] [--steps 40] [--eval-limit 60] [--lam 2]
        [--subset all|findings] [--common-tokens N] [--threads N] [--reuse]

``--subset findings`` keeps only the reports whose radiologist impression states at least one finding
as present (an affirmed claim by the metric's own reading): on the whole corpus most impressions are
"No acute cardiopulmonary abnormality", which states nothing the findings could fail to support, so
plain tuning reaches the metric's ceiling and the loss has nothing to show.

Writes benchmarks/results/grounded_demo.{json,md} (``grounded_demo_findings.*`` for the subset).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from adapt_demo import OUT, bedside, evaluate, paired_bootstrap, split  # noqa: E402

TASK = "iu_xray_impression"
DATA = Path("../shared/data/radiology/iu_xray_train.csv")
METRICS = ("rouge_l", "groundedness", "hallucination_rate")


def states_finding(row: dict[str, str]) -> bool:
    """Whether the row's gold impression affirms at least one finding, as the groundedness metric reads it."""
    from bedside.evaluation.grounding import grounder

    return any(not claim.negated for claim in grounder().claims(row.get("impression") or ""))


def paired_groundedness(a_dir: Path, b_dir: Path, dev: Path, resamples: int, seed: int) -> dict[str, float]:
    """Pooled groundedness of run b minus run a over the same items, with a 95% CI from resampling items
    (the metric pools claims over items, so each resample re-pools; as the harness computes it)."""
    from bedside.evaluation.grounding import grounding_counts

    with dev.open(newline="", encoding="utf-8") as fh:
        findings = {r["uid"]: {"findings": r["findings"]} for r in csv.DictReader(fh)}

    def counts(run: Path) -> dict[str, tuple[int, int]]:
        rows = [json.loads(line) for line in (run / "items.jsonl").read_text(encoding="utf-8").splitlines()]
        return {r["item_id"]: grounding_counts(r["parsed"], findings.get(r["item_id"])) for r in rows}

    a, b = counts(a_dir), counts(b_dir)
    ids = sorted(set(a) & set(b))

    def share(c: dict[str, tuple[int, int]], sample: list[str]) -> float:
        total = sum(c[i][1] for i in sample)
        return sum(c[i][0] for i in sample) / total if total else 0.0

    rng = random.Random(seed)
    stats = sorted(share(b, x) - share(a, x) for x in ([rng.choice(ids) for _ in ids] for _ in range(resamples)))
    return {"value": round(share(b, ids) - share(a, ids), 4), "ci_low": round(stats[int(0.025 * resamples)], 4),
            "ci_high": round(stats[int(0.975 * resamples) - 1], 4), "items": len(ids)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--train-n", type=int, default=300)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--lam", type=float, default=2.0)
    ap.add_argument("--eval-limit", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--subset", choices=("all", "findings"), default="all")
    ap.add_argument("--common-tokens", type=int, default=None,
                    help="distill grounded's frequent-answer-token exemption (default: its own, 0)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for training (0: all cores)")
    ap.add_argument("--no-base", action="store_true", help="do not score the base model (the slowest to score)")
    ap.add_argument("--reuse", action="store_true",
                    help="keep a trained model already in --work whose recorded command is the same")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bedside-grounded-demo"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if not DATA.is_file():
        sys.exit(f"data not found: {DATA}")
    args.work.mkdir(parents=True, exist_ok=True)
    train, dev, n_train, n_dev = split(DATA, args.work, args.train_n, args.seed,
                                       keep=states_finding if args.subset == "findings" else None)
    common = ["--model", args.model, "--task", TASK, "--data", str(train), "--no-deid", "--overwrite",
              "--max-steps", str(args.steps), "--seed", str(args.seed), "--batch-size", "8", "--max-len", "384",
              "--no-resume"]
    exempt = [] if args.common_tokens is None else ["--common-tokens", str(args.common_tokens)]
    grounded = "grounded" + ("" if args.common_tokens is None else f"-common{args.common_tokens}") + \
        ("" if args.lam == 2.0 else f"-lam{args.lam:g}")
    runs = {"tuned": ["tune", *common, "--out", str(args.work / "tuned")],
            grounded: ["distill", "grounded", *common, "--lam", str(args.lam), *exempt,
                       "--out", str(args.work / grounded)]}
    trained = {}
    if args.threads:  # training only (BEDSIDE_THREADS, not a flag: the recorded command stays comparable)
        os.environ["BEDSIDE_THREADS"] = str(args.threads)
    for name, cmd in runs.items():
        done, recorded = args.work / name / "bedside-adapt.json", args.work / name / "command.txt"
        if not (args.reuse and done.is_file() and recorded.is_file()
                and recorded.read_text(encoding="utf-8") == shlex.join(cmd)):
            bedside(*cmd)
            recorded.write_text(shlex.join(cmd), encoding="utf-8")
        meta = json.loads(done.read_text(encoding="utf-8"))
        trained[name] = {"method": meta["method"], "steps": meta["steps"], "train_seconds": meta["train_seconds"],
                         "loss_first": meta["loss_first"], "loss_last": meta["loss_last"],
                         "command": "bedside " + shlex.join(cmd)}
    os.environ.pop("BEDSIDE_THREADS", None)
    cells, items = {}, {}
    scored = [("tuned", str(args.work / "tuned" / "model.gguf")), (grounded, str(args.work / grounded / "model.gguf"))]
    for name, model in ([] if args.no_base else [("base", args.model)]) + scored:
        cell, items[name] = evaluate(model, dev, args.work / f"eval-{name}", args.seed, args.eval_limit, task=TASK,
                                     metric="rouge_l")
        cells[name] = {"metrics": {k: cell["metrics"].get(k) for k in METRICS}, "n": cell["n"],
                       "latency_ms": cell["latency_ms"]}
    result = {
        "command": "python " + shlex.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "task": TASK, "subset": args.subset, "train_rows": n_train, "dev_rows": n_dev, "eval_limit": args.eval_limit,
        "lam": args.lam,
        "training": trained, "dev": cells,
        "common_tokens": args.common_tokens,
        "rouge_l_grounded_minus_tuned": paired_bootstrap(items["tuned"], items[grounded], 2000, args.seed),
        "groundedness_grounded_minus_tuned": paired_groundedness(args.work / "eval-tuned",
                                                                 args.work / f"eval-{grounded}", dev, 2000, args.seed),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "grounded_demo" + ("" if args.subset == "all" else f"_{args.subset}") + grounded.removeprefix("grounded")
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")

    def fmt(m: dict | None) -> str:
        if not m or m.get("value") is None:
            return "–"
        return f"{m['value']:.3f} ({m['ci_low']:.3f}–{m['ci_high']:.3f})" if m.get("ci_low") is not None \
            else f"{m['value']:.3f}"

    d, g = result["rouge_l_grounded_minus_tuned"], result["groundedness_grounded_minus_tuned"]
    lines = [
        f"# Grounded loss vs plain fine-tuning on {TASK} ({args.model})",
        "",
        *([f"Subset: only reports whose impression states a finding as present ({n_train + n_dev} rows)."]
          if args.subset == "findings" else []),
        f"{n_train} training rows, {args.steps} steps each, same seed; scored on the first {args.eval_limit} of the "
        f"other {n_dev} rows (zero-shot prompt, constrained decoding). lam = {args.lam}.",
        "",
        "| model | " + " | ".join(f"{m} (95% CI)" for m in METRICS) + " | latency p50 ms |",
        "|---|" + "---|" * (len(METRICS) + 1),
        *(f"| {name} | " + " | ".join(fmt(c["metrics"][m]) for m in METRICS) + f" | {c['latency_ms']['p50']:.0f} |"
          for name, c in cells.items()),
        "",
        f"ROUGE-L grounded − tuned (paired bootstrap): {d['value']:+.3f} (95% CI {d['ci_low']:+.3f} to "
        f"{d['ci_high']:+.3f}).",
        f"Groundedness grounded − tuned (paired bootstrap over items, claims pooled): {g['value']:+.3f} (95% CI "
        f"{g['ci_low']:+.3f} to {g['ci_high']:+.3f}).",
        "",
        *(f"- {name}: `{t['command']}` ({t['steps']} steps, {t['train_seconds'] / 60:.1f} min, loss "
          f"{t['loss_first']} → {t['loss_last']})" for name, t in trained.items()),
        "",
        f"Command: `{result['command']}` ({result['date']}, load {result['machine']['load_average']}).",
        "",
    ]
    (args.out / f"{stem}.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
