"""Task-adaptive pre-training for the entity model: masked-LM on the NER corpora's own text, then NER.

Does continuing MiniLM's pre-training on the text the entity model is trained on (Gururangan et al.
2020, "Don't Stop Pretraining": TAPT) raise its dev F1? Three steps, each a real bedside command:

1. the corpus: every training sentence of NCBI-disease, BC5CDR (one copy: the disease and chemical
   files hold the same sentences) and BC2GM (more PubMed text, gene mentions), as the tokens the
   dev and test files are written in, joined by spaces, 8 sentences a document, one JSON line each;
   a sentence that also appears in a dev file is left out (the dev scores stay held out);
2. ``bedside pretrain CORPUS --model minilm`` (masked LM, a new head: all-MiniLM-L6-v2 is saved
   without one);
3. ``benchmarks/ner_train.py --base <that folder>``: the default recipe from the adapted encoder,
   scored on the three dev sets beside the recipe's own model (ner_default.md).

    python benchmarks/ner_tapt.py [--epochs 1] [--work /tmp/tapt] [--start minilm|FOLDER] [--name ner_tapt]

Writes benchmarks/results/ner_tapt.{json,md} (through ner_train.py) with the pre-training run's
figures in its note.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ner"
TRAIN = ("ncbi_disease", "bc5cdr_chem", "bc2gm")
DEV = ("ncbi_disease", "bc5cdr_disease", "bc5cdr_chem", "bc2gm")


def sentences(path: Path) -> list[str]:
    """The file's sentences as the model sees them: tokens joined by single spaces (``read_iob``)."""
    from bedside.ner.data import read_iob

    return [ex.text for ex in read_iob(path).examples]


def build_corpus(out: Path, per_document: int = 8) -> dict[str, int]:
    held_out = {s for name in DEV if (DATA / name / "dev.tsv").is_file() for s in sentences(DATA / name / "dev.tsv")}
    seen: set[str] = set()
    docs, dropped = [], 0
    for name in TRAIN:
        buffer: list[str] = []
        for s in sentences(DATA / name / "train.tsv"):
            if s in held_out:
                dropped += 1
                continue
            if s in seen:
                continue
            seen.add(s)
            buffer.append(s)
            if len(buffer) == per_document:
                docs.append(" ".join(buffer))
                buffer = []
        if buffer:
            docs.append(" ".join(buffer))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs), encoding="utf-8")
    return {"documents": len(docs), "sentences": len(seen), "left_out_in_dev": dropped,
            "words": sum(len(d.split()) for d in docs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/tapt"))
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--start", default="minilm",
                    help="encoder to continue: minilm, or an earlier run's folder (more epochs, same corpus)")
    ap.add_argument("--name", default="ner_tapt", help="results file name (benchmarks/results/NAME.md)")
    args = ap.parse_args()
    corpus = args.work / "corpus.jsonl"
    stats = build_corpus(corpus)
    print(json.dumps(stats), file=sys.stderr)
    encoder = args.work / ("minilm-tapt" if args.start == "minilm" else f"{Path(args.start).name}+{args.epochs:g}")
    cmd = [sys.executable, "-m", "bedside", "pretrain", str(corpus), "--model", args.start, "--out", str(encoder),
           "--no-deid", "--epochs", str(args.epochs), "--batch-size", "16", "--max-len", "128", "--lr", str(args.lr),
           "--eval-fraction", "0.02", "--threads", str(args.threads), "--overwrite"]
    subprocess.run(cmd, check=True)  # published corpora of PubMed text: nothing to de-identify
    meta = json.loads((encoder / "bedside-pretrain.json").read_text(encoding="utf-8"))
    start = "" if args.start == "minilm" else f" (continuing {args.start}, itself pre-trained on the same corpus)"
    note = (f"Recipe default from a MiniLM continued by masked-LM pre-training (`bedside pretrain`{start}) on "
            f"{stats['sentences']} training sentences of {', '.join(TRAIN)} ({stats['words']} words; "
            f"{stats['left_out_in_dev']} also in a dev file left out): {meta['steps']} steps, "
            f"{meta['train_seconds'] / 60:.1f} min, held-out MLM loss {meta['eval']['before']['loss']:.2f} -> "
            f"{meta['eval']['after']['loss']:.2f}. Compare with ner_default.md (the same recipe from minilm).")
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "ner_train.py"), "--base", str(encoder),
                    "--out", str(args.work / f"ner-{args.name}"), "--name", args.name, "--time-limit", "80",
                    "--threads", str(args.threads), "--note", note], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
