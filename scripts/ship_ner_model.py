"""Copy a trained entity model into the package as the default for `bedside extract` (or, with
``--to deid``, as the PHI tagger that `bedside deid` runs beside its rules).

    python scripts/ship_ner_model.py .artifacts/ner-minilm-v2 [--label-bias MEDICAL_CONDITION=-1.5 ...]
    python scripts/ship_ner_model.py /tmp/deid-tagger/onnx --to deid

Copies model.onnx, tokenizer.json, untagged.json and tagged.json from DIR/onnx (or DIR) to
src/bedside/resources/ner/default/ and writes its bedside-ner.json with machine-specific paths made
relative (data files keep their name and sha256; the base model keeps its name and sha256), so the
shipped metadata says how the model was made without naming this machine's folders. ``--label-bias``
sets the per-category logit offsets the model is run with (chosen on dev with train-only models:
benchmarks/ner_calibrate.py); DIR may be the shipped folder itself, to change only its metadata.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from bedside.ner.infer import META_FILE, MODEL_FILE, TOKENIZER_FILE, artifact_dir, bias_vector, read_meta
from bedside.ner.memory import FILE as UNTAGGED
from bedside.ner.memory import TAGGED_FILE

PACKAGE = Path(__file__).resolve().parents[1] / "src/bedside"
DESTS = {"extract": PACKAGE / "resources/ner/default", "deid": PACKAGE / "resources/deid/tagger"}
LIMIT = 30 * 1024 * 1024  # the budget for the shipped artifact


def _relative(path: str) -> str:
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def main(src: str, label_bias: dict[str, float] | None = None, source: str | None = None,
         to: str = "extract") -> None:
    dest = DESTS[to]
    folder = artifact_dir(Path(src))
    meta = read_meta(folder)
    if label_bias is not None:
        bias_vector(meta["labels"], label_bias)  # unknown categories and non-numbers fail here
        meta["label_bias"] = label_bias
        if source:
            meta["label_bias_source"] = source
    size = (folder / MODEL_FILE).stat().st_size
    if size > LIMIT:
        sys.exit(f"{folder / MODEL_FILE} is {size} bytes; the shipped model must be at most {LIMIT}")
    for item in meta.get("train_data", []) + [v for r in meta.get("dev", {}).values() for v in r.values()]:
        if isinstance(item, dict) and "path" in item:
            item["path"] = _relative(item["path"])
    if "base_model" in meta:
        meta["base_model"].pop("path", None)
    if meta.get("recipe"):
        meta["recipe"] = Path(meta["recipe"]).name
    dest.mkdir(parents=True, exist_ok=True)
    # The PHI tagger has no use for the memory lists (only extraction reads them: ner/memory.py).
    lists = (UNTAGGED, TAGGED_FILE)
    names = (MODEL_FILE, TOKENIZER_FILE, *lists) if to == "extract" else (MODEL_FILE, TOKENIZER_FILE)
    for name in names:
        if not (folder / name).is_file() and name in lists:
            (dest / name).unlink(missing_ok=True)  # a model trained before the list existed ships without one
        elif (folder / name).resolve() != (dest / name).resolve():
            shutil.copyfile(folder / name, dest / name)
    (dest / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(f"shipped {folder} -> {dest} ({size / 2**20:.1f} MiB)")


def _pair(item: str) -> tuple[str, float]:
    cat, sep, value = item.partition("=")
    try:
        return cat, float(value) if sep else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CATEGORY=NUMBER, not {item!r}") from None


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact")
    ap.add_argument("--label-bias", type=_pair, action="append", help="CATEGORY=OFFSET (repeatable)")
    ap.add_argument("--label-bias-source", help="where the offsets were measured (recorded in the metadata)")
    ap.add_argument("--to", choices=sorted(DESTS), default="extract", help="which packaged model to replace")
    args = ap.parse_args()
    main(args.artifact, dict(args.label_bias) if args.label_bias else None, args.label_bias_source, args.to)
