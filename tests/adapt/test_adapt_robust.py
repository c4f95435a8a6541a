"""Bad input and interrupted runs: malformed lines skipped and counted, a memory estimate that refuses
a run that cannot fit before the model loads, checkpoints that resume to the same result."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from adapt_helpers import DATA, killed_after_checkpoint, llama_folder, tiny_llama, tokenizer, write_jsonl

from bedside.adapt.features import prepare
from bedside.adapt.records import read_jsonl
from bedside.errors import InputError

torch = pytest.importorskip("torch", reason="training needs the 'train' extra")
pytest.importorskip("peft", reason="LoRA needs the 'train' extra")

from bedside.adapt import memory  # noqa: E402
from bedside.adapt.checkpoint import Checkpoints, fingerprint, partial_dir  # noqa: E402
from bedside.adapt.lora import LoraParams, train, with_lora  # noqa: E402
from bedside.adapt.run import LoraJob  # noqa: E402

GOOD = {"prompt": "Which clinic ? chest pain", "completion": "Clinic : cardiology"}
PHI = "Mr. John Tavlorian MRN 4455667"


def small(**kw) -> LoraParams:
    return LoraParams(**{"rank": 4, "lr": 1e-2, "max_steps": 6, "batch_size": 4, "max_len": 64, "dropout": 0.1,
                         "threads": 1, "device": "cpu", **kw})


@pytest.fixture(scope="module")
def examples():
    return prepare(tokenizer(), read_jsonl(DATA / "train.jsonl").records, max_len=64).examples


@pytest.fixture
def base_dir(tmp_path) -> Path:
    return llama_folder(tmp_path / "tiny-base")


# -- malformed lines ---------------------------------------------------------------------------------
def test_malformed_lines_are_skipped_counted_and_named_without_their_text(tmp_path, caplog):
    bad = [f'{{"prompt": "{PHI}", ', {"prompt": PHI, "completion": ""}, {"text": PHI}] * 8  # 24 bad lines
    path = write_jsonl(tmp_path / "d.jsonl", [GOOD, *bad, GOOD])
    with caplog.at_level(logging.WARNING, logger="bedside.adapt"):
        got = read_jsonl(path)
    assert [r.source for r in got.records] == [f"{path}:1", f"{path}:26"]
    assert len(got.skipped) == 24 and got.skipped[0].startswith(f"{path}:2: not valid JSON")
    assert got.skipped[1] == f"{path}:3: 'completion' must be a non-empty string"
    summary = got.skipped_summary()
    assert summary["count"] == 24 and summary["first"] == got.skipped[:20]
    named = [r for r in caplog.records if "malformed line skipped" in r.getMessage()]
    assert len(named) == 5 and "... and 19 more malformed line(s)" in caplog.text
    assert "Tavlorian" not in caplog.text and not any("Tavlorian" in s for s in got.skipped)  # may be PHI


def test_strict_stops_at_the_first_malformed_line_and_no_valid_record_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [GOOD, GOOD, '{"prompt": 1, "completion": "x"}', "[]"])
    with pytest.raises(InputError, match=r"d\.jsonl:3: 'prompt' must be a non-empty string \(--strict"):
        read_jsonl(path, strict=True)
    only_bad = write_jsonl(tmp_path / "bad.jsonl", ["{", "[]", "3"])
    with pytest.raises(InputError, match=r"has no records: 3 malformed line\(s\), first .*bad\.jsonl:1: not valid"):
        read_jsonl(only_bad)


# -- the memory estimate -----------------------------------------------------------------------------
def test_the_estimate_counts_this_model_and_grows_with_batch_and_length(base_dir):
    shape = memory.shape_of(base_dir)
    model = tiny_llama()
    assert shape.parameters == sum(w.numel() for w in model.parameters())  # from the safetensors header
    for targets in ("all-linear", "q_proj,v_proj"):  # the formula agrees with what PEFT trains
        peft_model = with_lora(tiny_llama(), small(targets=targets))
        trainable = sum(w.numel() for w in peft_model.parameters() if w.requires_grad)
        assert memory.lora_parameters(shape, small(targets=targets)) == trainable
    est = memory.estimate(shape, small())
    wider, longer = memory.estimate(shape, small(batch_size=8)), memory.estimate(shape, small(max_len=128))
    for bigger in (wider, longer):
        assert bigger.parts["activations"] > est.parts["activations"] and bigger.parts["lm_head"] > est.parts["lm_head"]
        assert bigger.total > est.total and bigger.parts["weights"] == est.parts["weights"]
    # The data's widest batch bounds the estimate below the worst case.
    exs = prepare(tokenizer(), read_jsonl(DATA / "train.jsonl").records, max_len=64).examples
    width, targets = memory.widest_batch(exs, 4)
    assert width == max(len(e.input_ids) for e in exs) < 64 and targets < 4 * width
    assert memory.estimate(shape, small(), width=width, targets=targets).total < est.total


def test_available_memory_is_measured():
    free = memory.available_bytes("cpu")
    assert free is None or 0 < free < 1 << 50


def lora_job(base_dir: Path, out: Path, data: Path = DATA / "train.jsonl", **kw) -> LoraJob:
    params = kw.pop("params", small())
    return LoraJob(model=str(base_dir), data=data, out=out, params=params, export_gguf=False, deid=False, **kw)


def test_a_run_that_cannot_fit_is_refused_before_the_model_loads(base_dir, tmp_path, bedside_env, monkeypatch):
    from bedside.adapt import run
    from bedside.config import load_settings

    real_loader = run.causal_model

    def must_not_load(*args, **kw):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 10_000)
    monkeypatch.setattr(run, "causal_model", must_not_load)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"estimated peak memory \d+\.\d\d GiB vs 0\.00 GiB available \(cpu\): "
                                         r"weights .* \+ runtime 0\.50 GiB; lower --batch-size \(4\) or "
                                         r"--max-len \(64\), or pass --force"):
        run.run_lora(lora_job(base_dir, out), load_settings(), progress=False)
    assert not out.exists() and not partial_dir(out).exists()

    # A record longer than the model's context (128 positions) is refused before loading, too.
    long = write_jsonl(tmp_path / "long.jsonl", [GOOD, {"prompt": "chest pain " * 80, "completion": "Clinic : x"}])
    with pytest.raises(InputError, match=r"1 record\(s\) are longer than the model's context of 128 tokens "
                                         r"\(longest: 1\d\d\); give --max-len 128 or less"):
        run.run_lora(lora_job(base_dir, out, long, params=small(max_len=512)), load_settings(), progress=False)

    monkeypatch.setattr(run, "causal_model", real_loader)
    meta = run.run_lora(lora_job(base_dir, out, force=True), load_settings(), progress=False)
    assert meta["memory"]["forced"] is True and meta["memory"]["available_bytes"] == 10_000
    assert meta["memory"]["estimate_bytes"] == sum(meta["memory"]["parts"].values()) > 10_000
    assert json.loads((out / "bedside-adapt.json").read_text())["memory"]["estimate_bytes"] > 0


# -- checkpoints and resuming ------------------------------------------------------------------------
class Interrupted(Exception):
    pass


def stop_at(step_to_stop: int):
    def hook(step: int, loss: float) -> None:
        if step == step_to_stop:
            raise Interrupted(step)
    return hook


def lora_weights(model) -> list:
    return [w.detach().clone() for w in model.parameters() if w.requires_grad]


@pytest.mark.parametrize(("every", "interrupt", "resumed_at"), [(2, 3, 2), (3, 4, 3)])
def test_an_interrupted_run_resumes_to_the_same_losses_and_weights(examples, tmp_path, every, interrupt, resumed_at):
    """10 records in batches of 4: 3 batches a pass. (2, 3): resume mid-pass and redo step 3;
    (3, 4): resume at a pass boundary, so the next pass's order is drawn from the restored RNG."""
    straight = train(tiny_llama(), examples, small(), pad_id=1)
    folder = tmp_path / "run.partial"
    first = Checkpoints(folder, {"run": 1}, every=every)
    assert first.open() == 0
    with pytest.raises(Interrupted):
        train(tiny_llama(), examples, small(), pad_id=1, checkpoints=first, on_step=stop_at(interrupt))
    assert [p.name for p in first.steps()] == [f"step-{resumed_at:06d}"]

    again = Checkpoints(folder, {"run": 1}, every=every)
    assert again.open() == resumed_at
    seen: list[int] = []
    resumed = train(tiny_llama(), examples, small(), pad_id=1, checkpoints=again,
                    on_step=lambda step, loss: seen.append(step))
    assert resumed.resumed_from == resumed_at and seen == list(range(resumed_at + 1, 7))
    assert resumed.steps == 6 and resumed.losses == straight.losses
    for a, b in zip(lora_weights(resumed.model), lora_weights(straight.model), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert [p.name for p in again.steps()] == ["step-000006"]  # the end of training is kept until published


def test_a_failed_save_keeps_the_previous_checkpoint(examples, tmp_path, monkeypatch):
    checkpoints = Checkpoints(tmp_path / "run.partial", {"run": 1}, every=2)
    checkpoints.open()
    real_save = torch.save

    def disk_full(obj, f, *a, **kw):
        if obj["step"] == 4:
            f.write(b"half a checkpoint")
            raise OSError(28, "No space left on device")
        real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        train(tiny_llama(), examples, small(), pad_id=1, checkpoints=checkpoints)
    assert sorted(p.name for p in checkpoints.folder.iterdir()) == ["step-000002"]  # no temporary folder either
    monkeypatch.setattr(torch, "save", real_save)
    assert Checkpoints(checkpoints.folder, {"run": 1}).open() == 2


def test_only_a_checkpoint_of_the_same_run_is_resumed(tmp_path):
    def fp(job: LoraJob, data: str = "a" * 64) -> dict:
        return fingerprint(job, base_sha256="b" * 64, data_sha256=data, deid="mask")

    job = LoraJob(model="smollm2", data=Path("train.jsonl"), out=tmp_path / "out", params=small())
    # Where results go, threads and device do not change what training computes.
    moved = LoraJob(model="/models/smollm2.gguf", data=Path("copy.jsonl"), out=tmp_path / "elsewhere",
                    params=small(threads=2, device="auto"), export_gguf=False, overwrite=True)
    assert fp(job) == fp(moved)

    folder = tmp_path / "out.partial"
    Checkpoints(folder, fp(job), every=1).save(2, {"step": 2})
    other = LoraJob(model="smollm2", data=Path("train.jsonl"), out=tmp_path / "out", params=small(lr=1e-3))
    with pytest.raises(InputError, match=r"step-000002 is a checkpoint of another run \(data_sha256 'aaaaaaaaaaaa' -> "
                                         r"'cccccccccccc'; hyperparameters\.lr 0\.01 -> 0\.001\); pass --no-resume"):
        Checkpoints(folder, fp(other, "c" * 64)).open()
    assert Checkpoints(folder, fp(job)).open() == 2
    with pytest.raises(InputError, match="--resume: no checkpoint in"):
        Checkpoints(tmp_path / "none.partial", fp(job), resume=True).open()
    assert Checkpoints(folder, fp(other), resume=False).open() == 0 and not folder.exists()


def test_run_lora_resumes_after_an_interruption_and_removes_its_checkpoints(base_dir, tmp_path, bedside_env,
                                                                             monkeypatch):
    from bedside.adapt import run
    from bedside.config import load_settings

    settings = load_settings()
    data = write_jsonl(tmp_path / "train.jsonl", [*map(json.loads, (DATA / "train.jsonl").read_text().splitlines()),
                                                  "not json"])
    straight = run.run_lora(lora_job(base_dir, tmp_path / "straight", data, checkpoint_every=2), settings,
                            progress=False)
    assert straight["resumed_from_step"] == 0 and not partial_dir(tmp_path / "straight").exists()
    assert straight["data"]["train"]["skipped_lines"] == {"count": 1, "first": [f"{data}:11: not valid JSON "
                                                                                "(Expecting value at column 1)"]}

    out = tmp_path / "resumed"
    with killed_after_checkpoint(monkeypatch, 4), pytest.raises(KeyboardInterrupt):
        run.run_lora(lora_job(base_dir, out, data, checkpoint_every=2), settings, progress=False)
    assert not out.exists() and [p.name for p in Checkpoints(partial_dir(out), {}).steps()] == ["step-000004"]

    with pytest.raises(InputError, match=r"checkpoint of another run \(hyperparameters\.seed 13 -> 14\)"):
        run.run_lora(lora_job(base_dir, out, data, params=small(seed=14)), settings, progress=False)
    resumed = run.run_lora(lora_job(base_dir, out, data, checkpoint_every=2), settings, progress=False)
    assert resumed["resumed_from_step"] == 4 and resumed["losses"] == straight["losses"]
    assert not partial_dir(out).exists()  # published, so nothing is left to resume

    from safetensors.torch import load_file

    a = load_file(out / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "straight" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_a_failed_export_costs_no_training(base_dir, tmp_path, bedside_env, monkeypatch):
    """The checkpoint written when training ends survives a failed export; the rerun only exports."""
    from bedside.adapt import run
    from bedside.config import load_settings

    def disk_full(out, meta, **kw):
        raise OSError(28, "No space left on device")

    out = tmp_path / "out"
    real_writer = run.write_lora_result
    monkeypatch.setattr(run, "write_lora_result", disk_full)
    with pytest.raises(OSError):
        run.run_lora(lora_job(base_dir, out), load_settings(), progress=False)
    assert [p.name for p in Checkpoints(partial_dir(out), {}).steps()] == ["step-000006"]
    monkeypatch.setattr(run, "write_lora_result", real_writer)  # not undo(): that would drop bedside_env too
    seen: list[int] = []
    monkeypatch.setattr(Checkpoints, "start", lambda self, step: seen.append(step))
    meta = run.run_lora(lora_job(base_dir, out), load_settings(), progress=False)
    assert seen == [6] and meta["resumed_from_step"] == 6 and meta["steps"] == 6 and len(meta["losses"]) == 6
    assert (out / "adapter").is_dir() and not partial_dir(out).exists()


# -- the command -------------------------------------------------------------------------------------
def test_tune_is_the_lora_command_with_every_option():
    import typer

    from bedside.cli import adapt

    app = typer.Typer()
    app.command("tune")(adapt.tune)
    app.command("other")(lambda: None)  # two commands: typer keeps the names
    tune = typer.main.get_command(app).commands["tune"]  # type: ignore[attr-defined]
    group = typer.main.get_command(adapt.app)  # a group, or the one command when ``adapt`` has only one
    lora = group.commands["lora"] if hasattr(group, "commands") else group
    def options(command) -> set[str]:
        return {o for param in command.params for o in (*param.opts, *param.secondary_opts)
                if "completion" not in o}  # typer's own, on a single-command app

    assert options(tune) == options(lora)
    assert {"--data", "--task", "--strict", "--force", "--resume", "--no-resume", "--checkpoint-every"} <= options(tune)
