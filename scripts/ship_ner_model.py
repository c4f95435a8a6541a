"""Copy a trained entity model into the package as the default for `bedside extract`.

    python scripts/ship_ner_model.py .artifacts/ner-minilm-v2

Copies model.onnx and tokenizer.json from DIR/onnx (or DIR) to src/bedside/resources/ner/default/
and writes its bedside-ner.json with machine-specific paths made relative (data files keep their
name and sha256; the base model keeps its name and sha256), so the shipped metadata says how the
model was made without naming this machine's folders.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from bedside.ner.infer import META_FILE, MODEL_FILE, TOKENIZER_FILE, artifact_dir, read_meta

DEST = Path(__file__).resolve().parents[1] / "src/bedside/resources/ner/default"
LIMIT = 30 * 1024 * 1024  # the budget for the shipped artifact


def _relative(path: str) -> str:
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def main(src: str) -> None:
    folder = artifact_dir(Path(src))
    meta = read_meta(folder)
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
    DEST.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, TOKENIZER_FILE):
        shutil.copyfile(folder / name, DEST / name)
    (DEST / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(f"shipped {folder} -> {DEST} ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
