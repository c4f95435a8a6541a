"""The default entity-span model: train it (default recipe), then report its dev scores and size.

Trains ``bedside train ner --recipe default`` (NCBI-disease + BC5CDR disease + BC5CDR chemical,
all-MiniLM-L6-v2, 2 CPU cores) into ``--out``, or with ``--summarize`` only reads an existing output
folder. Then scores the int8 ONNX artifact on the three dev sets (strict and partial entity F1, as
``bedside eval ner`` does), times its inference, and writes ``ner_default.{json,md}`` (``--name``) to
``benchmarks/results/`` (or ``--results DIR``) with the PubMedBERT anchors beside each score and the
fp32-vs-int8 difference recorded at training time.

    python benchmarks/ner_train.py --time-limit 40          # train (under an hour) and report
    python benchmarks/ner_train.py --summarize --out .artifacts/ner-minilm-v1
    python benchmarks/ner_train.py --summarize --out src/bedside/resources/ner/default   (the shipped model)
    python benchmarks/ner_train.py --base /tmp/minilm-tapt --out /tmp/ner-tapt --name ner_tapt
        (the same recipe from another encoder, e.g. a `bedside pretrain` output; results as ner_tapt.*)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Strict entity F1 of PubMedBERT (110M) on these test sets (BLURB); the target is within 3.
ANCHORS = {"ncbi_disease/dev": 87.8, "bc5cdr_disease/dev": 85.6, "bc5cdr_chem/dev": 93.3}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / ".artifacts" / "ner-minilm-v1", help="training output folder")
    ap.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data" / "ner")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--summarize", action="store_true", help="do not train; report on --out as it is")
    ap.add_argument("--time-limit", type=float, default=None, help="minutes of training (schedule fitted to it)")
    ap.add_argument("--epochs", type=float, default=None)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--base", default=None, help="encoder to start from instead of the recipe's (name or HF folder)")
    ap.add_argument("--recipe", default="default", help="recipe name or file (bedside train ner --recipe)")
    ap.add_argument("--name", default="ner_default", help="results file name, without extension")
    ap.add_argument("--note", default="", help="a sentence appended to the Markdown report (e.g. the load)")
    args = ap.parse_args()

    from bedside.config import load_settings
    from bedside.ner.data import read_corpus
    from bedside.ner.evaluate import evaluate
    from bedside.ner.infer import NerModel
    from bedside.ner.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.data_root)
    if not args.summarize:
        from bedside.ner.train import train

        recipe.params.update({"time_limit_min": args.time_limit, "epochs": args.epochs, "threads": args.threads,
                              "base": args.base}, "command line")
        train(recipe, args.out, load_settings())
    # A training output folder holds the artifact in onnx/; a shipped model folder is the artifact itself.
    onnx_dir = args.out / "onnx" if (args.out / "onnx").is_dir() else args.out
    meta = json.loads((onnx_dir / "bedside-ner.json").read_text())
    corpora = [read_corpus(ref) for ref in recipe.dev]
    model = NerModel(onnx_dir, threads=args.threads)
    texts = list(dict.fromkeys(ex.text for c in corpora for ex in c.examples))
    started = time.perf_counter()
    model.predict(texts)
    seconds = time.perf_counter() - started
    scores = evaluate(corpora, model.predict)

    rows = []
    for name, res in scores.items():
        fp32 = meta.get("dev", {}).get("onnx_fp32", {}).get(name, {}).get("strict", {}).get("f1")
        torch_f1 = meta.get("dev", {}).get("torch_fp32", {}).get(name, {}).get("strict", {}).get("f1")
        rows.append({
            "corpus": name,
            "strict_f1": round(100 * res["strict"]["f1"], 2),
            "strict_p": round(100 * res["strict"]["precision"], 2),
            "strict_r": round(100 * res["strict"]["recall"], 2),
            "partial_f1": round(100 * res["partial"]["f1"], 2),
            "onnx_fp32_strict_f1": round(100 * fp32, 2) if fp32 is not None else None,
            "torch_fp32_strict_f1": round(100 * torch_f1, 2) if torch_f1 is not None else None,
            "anchor_pubmedbert": ANCHORS.get(name),
            "n_sentences": res["n_sentences"],
            "n_gold": res["n_gold"],
        })
    report = {
        "benchmark": args.name,
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "artifact": meta.get("artifact"),
        "base_model": meta.get("base_model"),
        "hyperparameters": meta.get("hyperparameters"),
        "steps": meta.get("steps"),
        "epochs_done": meta.get("epochs_done"),
        "train_seconds": meta.get("train_seconds"),
        "total_seconds": meta.get("total_seconds"),
        "git_revision": meta.get("git_revision"),
        "train_data": meta.get("train_data"),
        "inference": {"sentences": len(texts), "seconds": round(seconds, 2),
                      "sentences_per_s": round(len(texts) / seconds, 1), "threads": args.threads or os.cpu_count()},
        "dev": rows,
        "scores": scores,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{args.name}.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        "# Default NER model: dev scores" if args.name == "ner_default" else f"# NER model ({args.name}): dev scores",
        "",
        f"all-MiniLM-L6-v2 token classifier, int8 ONNX {meta['artifact']['model_bytes'] / 2**20:.1f} MiB; "
        f"{meta.get('steps')} steps ({meta.get('epochs_done')} epochs) in {meta.get('train_seconds', 0) / 60:.1f} min "
        f"on {os.cpu_count()} CPU cores; inference {report['inference']['sentences_per_s']} sentences/s.",
        "",
        "| dev set | strict F1 (int8) | P | R | partial F1 | strict F1 fp32 ONNX | strict F1 torch | PubMedBERT |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['corpus']} | {r['strict_f1']} | {r['strict_p']} | {r['strict_r']} | {r['partial_f1']} | "
            f"{r['onnx_fp32_strict_f1']} | {r['torch_fp32_strict_f1']} | {r['anchor_pubmedbert']} |"
        )
    lines += ["", f"Command: `{report['command']}`", ""]
    if args.note:
        lines += [args.note, ""]
    (args.results / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
