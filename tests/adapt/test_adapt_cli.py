"""`bedside adapt lora` on bad input: one line on stderr, the documented exit code, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from adapt_helpers import DATA, write_jsonl
from conftest import run_cli


def lora(tmp_path: Path, env: dict[str, str], *args: str):
    return run_cli("adapt", "lora", "--out", str(tmp_path / "out"), *args, env=env, timeout=60)


def nothing_written(tmp_path: Path) -> bool:
    return not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--data", "missing.jsonl"], 2, "training data not found: missing.jsonl"),
    (["--data", str(DATA / "train.jsonl"), "--eval", "nope.jsonl"], 2, "eval data not found: nope.jsonl"),
    (["--data", str(DATA / "train.jsonl"), "--model", "smollm3"], 3, "unknown model 'smollm3' (did you mean"),
    (["--data", str(DATA / "train.jsonl"), "--gguf-type", "q2_k"], 2, "--gguf-type must be one of"),
    (["--data", str(DATA / "train.jsonl"), "--epochs", "0"], 2, "nothing to train"),
])
def test_bad_input(tmp_path, bedside_env, args, code, message):
    result = lora(tmp_path, bedside_env, *args)
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("bedside: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr
    assert nothing_written(tmp_path)


def test_malformed_and_empty_data(tmp_path, bedside_env):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "a", "completion": "b"}, '{"prompt": "a", '])
    result = lora(tmp_path, bedside_env, "--data", str(bad), "--strict")  # default: skipped and counted
    assert result.returncode == 2
    assert f"{bad}:2: not valid JSON" in result.stderr and "--strict" in result.stderr
    only_bad = write_jsonl(tmp_path / "only-bad.jsonl", ['{"prompt": "a", ', "[]"])
    result = lora(tmp_path, bedside_env, "--data", str(only_bad))
    assert result.returncode == 2 and f"has no records: 2 malformed line(s), first {only_bad}:1" in result.stderr
    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    result = lora(tmp_path, bedside_env, "--data", str(empty))
    assert result.returncode == 2 and "has no records" in result.stderr
    assert nothing_written(tmp_path)


def test_a_finished_folder_is_not_overwritten_by_default(tmp_path, bedside_env):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.gguf").write_bytes(b"GGUF earlier result")
    result = lora(tmp_path, bedside_env, "--data", str(DATA / "train.jsonl"))
    assert result.returncode == 2 and "exists and is not empty" in result.stderr
    assert (tmp_path / "out" / "model.gguf").read_bytes() == b"GGUF earlier result"


def test_an_interrupted_training_command_says_where_its_saved_state_is(tmp_path, capsys):
    """`tune` and `pretrain` share one runner: stopped half-way, it names the last checkpoint and re-raises."""
    from types import SimpleNamespace

    from bedside.adapt.checkpoint import Checkpoints, partial_dir
    from bedside.cli.adapt import run_training

    out = tmp_path / "run"
    job = SimpleNamespace(out=out)

    def interrupted(job, settings):
        Checkpoints(partial_dir(job.out), {"run": 1}, every=1).save(3, {"step": 3})
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_training(interrupted, job, None)
    assert f"{partial_dir(out) / 'step-000003'}; the same command resumes from there" in capsys.readouterr().err
    assert run_training(lambda job, settings: {"steps": 1}, job, None) == {"steps": 1}
