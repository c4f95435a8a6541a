"""Self-training for the entity model: does PubMed text labelled by a teacher model raise dev F1?

The entity model's gold data is small (NCBI-disease + BC5CDR: 15,500 training sentences). ADE-Corpus-V2
holds 16,695 more PubMed case-report sentences ("NEG": no adverse drug effect in them, but full of
drugs and diseases), the same literature BC5CDR was drawn from. Steps, each a real bedside part:

1. the sentences: ADE-NEG, de-duplicated, cut into the tokens the NCBI/BC5CDR files use (words and
   single punctuation marks, joined by spaces); any sentence that is also in an NCBI-disease or
   BC5CDR train or dev file is left out, so dev scores stay held out; ``--n`` of them, drawn by seed;
2. a teacher artifact (``--teacher``: a train-only model, so dev stays unseen) tags them, logit
   offsets included; a drug name annotated anywhere in ADE-Corpus-V2's relation files (gold, 1,300
   names) becomes MEDICATION where the teacher tagged nothing (the teacher misses e.g. "alteplase -
   treated"); the tags are written as an IOB file annotating both categories;
3. ``benchmarks/ner_train.py --recipe <the default recipe plus that file>``: a fresh MiniLM trained on
   gold + pseudo-labelled sentences, scored on the three dev sets (results ``--name``.{json,md}).

    python benchmarks/ner_selftrain.py --teacher /tmp/w/ner-e11/onnx [--n 8000] [--time-limit 50]
    python benchmarks/ner_selftrain.py --recipe shipped --teacher src/bedside/resources/ner/default \
        --name ner_selftrain_shipped --time-limit 75          (the model to ship: train + dev + extra)

Compare with ner_default.md / ner_calibration.md (the same recipe without the extra sentences).
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
ADE_NEG = DATA / "medication" / "ade_corpus_v2" / "ADE-NEG.txt"
GOLD = ("ncbi_disease", "bc5cdr_disease")  # bc5cdr_chem holds the same sentences as bc5cdr_disease
_TOKEN = re.compile(r"\w+|[^\w\s]")
# ADE "drug" annotations that are words, procedures or errors in running text ("toxicity" is tagged as
# a drug 24 times; "lead" is mostly the verb; LASIK is surgery; PRES and AMD are diseases).
NOT_DRUGS = {"toxicity", "lead", "lasik", "paradoxical", "gold", "cap", "amd", "pres", "tca"}


def corpus_tokens(sentence: str) -> str:
    """The sentence as NCBI/BC5CDR files give theirs: words and single punctuation marks, space-joined."""
    return " ".join(_TOKEN.findall(sentence))


def gold_sentences() -> set[str]:
    from bedside.ner.data import read_iob

    return {ex.text for name in GOLD for split in ("train", "dev")
            if (DATA / "ner" / name / f"{split}.tsv").is_file()
            for ex in read_iob(DATA / "ner" / name / f"{split}.tsv").examples}


def ade_sentences(n: int, seed: int) -> tuple[list[str], dict[str, int]]:
    lines = ADE_NEG.read_text(encoding="utf-8", errors="replace").splitlines()
    # "PMID NEG sentence"
    raw = [parts[2] for parts in (line.split(" ", 2) for line in lines) if len(parts) == 3]
    unique = list(dict.fromkeys(corpus_tokens(s) for s in raw))
    held = gold_sentences()
    kept = [s for s in unique if s and s not in held]
    random.Random(seed).shuffle(kept)
    return kept[:n], {"lines": len(raw), "unique": len(unique), "in_gold_files": len(unique) - len(kept),
                      "used": min(n, len(kept))}


def ade_drugs() -> set[tuple[str, ...]]:
    """Drug names annotated in ADE-Corpus-V2's relation files, as lower-cased corpus tokens (3+ characters)."""
    names: set[tuple[str, ...]] = set()
    for rel in ("DRUG-AE.rel", "DRUG-DOSE.rel"):
        for line in (ADE_NEG.parent / rel).read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split("|")
            if len(parts) >= 8 and len(parts[5].strip()) >= 3:
                names.add(tuple(corpus_tokens(parts[5].lower()).split(" ")))
    return {n for n in names if " ".join(n) not in NOT_DRUGS}


def tag_sentence(tokens: list[str], spans: list[tuple[int, int, str]], drugs: set[tuple[str, ...]]) -> list[str]:
    """IOB tags from teacher spans over token indexes [begin, end), then drug names the teacher missed."""
    tags = ["O"] * len(tokens)
    for begin, end, cat in spans:
        tags[begin:end] = [f"B-{cat}"] + [f"I-{cat}"] * (end - begin - 1)
    lower = [t.lower() for t in tokens]
    longest = max((len(d) for d in drugs), default=0)
    i = 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 0, -1):
            if tuple(lower[i:i + n]) in drugs and all(t == "O" for t in tags[i:i + n]):
                tags[i:i + n] = ["B-MEDICATION"] + ["I-MEDICATION"] * (n - 1)
                i += n - 1
                break
        i += 1
    return tags


def write_pseudo(sentences: list[str], teacher: Path, out: Path, drugs: set[tuple[str, ...]]) -> dict[str, int]:
    """IOB lines ``token<TAB>B-CATEGORY``; the teacher's spans sit on token boundaries by construction."""
    from bedside.ner.infer import NerModel

    model = NerModel(teacher)
    counts = {"sentences": len(sentences), "teacher_spans": 0, "lexicon_spans": 0}
    rows: list[str] = []
    for text, ents in zip(sentences, model.predict(sentences), strict=True):
        tokens = text.split(" ")
        starts, ends, pos = {}, {}, 0
        for k, tok in enumerate(tokens):
            starts[pos], ends[pos + len(tok)] = k, k + 1
            pos += len(tok) + 1
        spans = [(starts[e.begin_offset], ends[e.end_offset], e.category) for e in ents
                 if e.begin_offset in starts and e.end_offset in ends]
        tags = tag_sentence(tokens, spans, drugs)
        counts["teacher_spans"] += len(spans)
        counts["lexicon_spans"] += sum(t == "B-MEDICATION" for t in tags) - sum(c == "MEDICATION" for *_, c in spans)
        rows += [f"{tok}\t{tag}" for tok, tag in zip(tokens, tags, strict=True)] + [""]
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", type=Path, required=True, help="a train-only NER artifact (onnx folder)")
    ap.add_argument("--n", type=int, default=8000, help="pseudo-labelled sentences to add")
    ap.add_argument("--recipe", default="default", help="bundled recipe the extra sentences are added to "
                    "('shipped' with the shipped model as teacher builds a model to ship)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--work", type=Path, default=Path("/tmp/selftrain"))
    ap.add_argument("--time-limit", type=float, default=50.0)
    ap.add_argument("--epochs", type=float, default=None)
    ap.add_argument("--name", default="ner_selftrain")
    ap.add_argument("--results", type=Path, default=None)
    args = ap.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    sentences, stats = ade_sentences(args.n, args.seed)
    pseudo = args.work / "ade_neg_pseudo.tsv"
    counts = write_pseudo(sentences, args.teacher, pseudo, ade_drugs())
    default = (REPO / "src" / "bedside" / "ner" / "recipes" / f"{args.recipe}.toml").read_text(encoding="utf-8")
    extra = f'\n[[train]]\npath = "{pseudo}"\n'
    # The extra corpus goes after the gold ones; the [params]/[label_bias] tables must stay last.
    recipe_text = default.replace("[[dev]]", extra + "\n[[dev]]", 1)
    recipe = args.work / "selftrain.toml"
    recipe.write_text(recipe_text, encoding="utf-8")
    note = (f"Self-training: the {args.recipe} recipe plus {counts['sentences']} ADE-Corpus-V2 NEG sentences "
            f"tagged by the train-only teacher {args.teacher} ({counts['teacher_spans']} spans) plus ADE's annotated "
            f"drug names where the teacher tagged nothing ({counts['lexicon_spans']} spans) "
            f"(ADE-NEG: {stats}). Command: python benchmarks/ner_selftrain.py {' '.join(sys.argv[1:])}")
    print(note, flush=True)
    cmd = [sys.executable, str(REPO / "benchmarks" / "ner_train.py"), "--recipe", str(recipe),
           "--data-root", str(DATA / "ner"), "--out", str(args.work / "model"), "--name", args.name,
           "--time-limit", str(args.time_limit), "--note", note]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    if args.results:
        cmd += ["--results", str(args.results)]
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
