"""Data-parallel training on CPU with real torch.distributed (Gloo), two processes: `bedside tune` under
torchrun, the step sharding, ranks that stay in sync and resume exactly, and a resume with another
number of processes refused."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from adapt_helpers import DATA, llama_folder, tiny_llama, tokenizer

from bedside.adapt import distributed
from bedside.errors import InputError

for _mod in ("torch", "transformers", "peft"):
    pytest.importorskip(_mod, reason="training needs the 'train' extra")

import torch  # noqa: E402

from bedside.adapt import memory  # noqa: E402
from bedside.adapt.checkpoint import Checkpoints, fingerprint  # noqa: E402
from bedside.adapt.run import LoraJob  # noqa: E402

TRAIN_RECORDS = 10  # tests/adapt/data/train.jsonl
LAUNCH_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    """This pytest process is not under a launcher, whatever started it."""
    for key in LAUNCH_ENV:
        monkeypatch.delenv(key, raising=False)


# -- the sharding ------------------------------------------------------------------------------------
def test_each_step_takes_one_batch_per_rank_and_a_short_last_step_wraps_around():
    assert distributed.step_batches(5, 1, 0) == [0, 1, 2, 3, 4]  # one process: every batch in order
    assert distributed.step_batches(4, 2, 0) == [0, 2] and distributed.step_batches(4, 2, 1) == [1, 3]
    # 5 batches on 2 ranks: 3 steps; the third has one batch left, rank 1 takes the pass's first again.
    assert distributed.step_batches(5, 2, 0) == [0, 2, 4] and distributed.step_batches(5, 2, 1) == [1, 3, 0]
    for n, size in ((7, 3), (12, 4), (2, 3)):
        shards = [distributed.step_batches(n, size, r) for r in range(size)]
        assert all(len(s) == math.ceil(n / size) for s in shards)  # every rank has a batch at every step
        assert {b for s in shards for b in s} == set(range(n))  # and every batch is trained on
        for step in range(len(shards[0])):  # a step's batches differ, unless fewer batches than ranks
            assert len({s[step] for s in shards}) == min(size, n)
    assert distributed.step_batches(0, 2, 1) == []


def test_one_process_without_a_launcher_has_no_group_and_the_helpers_pass_values_through():
    assert distributed.world() == distributed.World(1, 0, 0, 1) and distributed.is_main()
    assert distributed.setup(torch.device("cpu")).size == 1 and not torch.distributed.is_initialized()
    assert distributed.broadcast(("x", 3)) == ("x", 3) and distributed.gather(7) == [7]
    assert distributed.mean(0.123456789) == 0.123456789  # exactly: single-process losses are unchanged
    assert distributed.decide(lambda: 5) == 5
    distributed.barrier()


def test_a_broken_launcher_environment_is_named(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(InputError, match=r"\$WORLD_SIZE='two' is not a number"):
        distributed.world()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(InputError, match=r"\$RANK=2 / \$WORLD_SIZE=2: not a valid rank"):
        distributed.world()


# -- checkpoints and memory with several processes ---------------------------------------------------
def test_a_checkpoint_of_another_number_of_processes_is_refused(tmp_path, monkeypatch):
    job = LoraJob(model="smollm2", data=Path("train.jsonl"), out=tmp_path / "out")

    def fp(**kw) -> dict:
        return fingerprint(job, base_sha256="b" * 64, data_sha256="a" * 64, deid="mask", **kw)

    assert fp()["world_size"] == 1  # no launcher
    monkeypatch.setenv("WORLD_SIZE", "2")
    two = fp()
    assert two["world_size"] == 2 and fp(world_size=4)["world_size"] == 4
    folder = tmp_path / "out.partial"
    Checkpoints(folder, two, every=1).save(3, {"step": 3})
    monkeypatch.delenv("WORLD_SIZE")
    with pytest.raises(InputError, match=r"step-000003 is a checkpoint of another run \(world_size 2 -> 1\); "
                                         r"pass --no-resume"):
        Checkpoints(folder, fp()).open()

    # A checkpoint written before the world size was recorded came from one process: it still resumes.
    meta = folder / "step-000003" / "checkpoint.json"
    old = json.loads(meta.read_text())
    del old["fingerprint"]["world_size"]
    meta.write_text(json.dumps(old))
    assert Checkpoints(folder, fp()).open() == 3
    with pytest.raises(InputError, match=r"\(world_size 1 -> 2\)"):
        Checkpoints(folder, fp(world_size=2)).open()


def test_processes_on_one_machine_share_its_memory_in_the_estimate(tmp_path, monkeypatch):
    from bedside.adapt.features import prepare
    from bedside.adapt.lora import LoraParams
    from bedside.adapt.records import read_jsonl

    folder = tmp_path / "tiny"
    tiny_llama().save_pretrained(folder)
    examples = prepare(tokenizer(), read_jsonl(DATA / "train.jsonl").records, max_len=64).examples
    p = LoraParams(rank=4, max_steps=1, batch_size=2, max_len=64)
    one = memory.check_memory(folder, p, examples, "cpu", force=True)["estimate_bytes"]
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": int(1.5 * one))
    assert memory.check_memory(folder, p, examples, "cpu")["processes_sharing_memory"] == 1
    # Rank 0 of two processes on this machine (the helper is what rank 0 runs for all of them).
    for key, value in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(InputError, match=r"estimated peak memory 2 processes x \d+\.\d\d GiB vs .*start fewer "
                                         r"than 2 processes, or pass --force"):
        memory._check_memory(folder, p, examples, "cpu", force=False, full=False)
    assert memory._check_memory(folder, p, examples, "cuda", force=True, full=False)["processes_sharing_memory"] == 1


# -- two real processes ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trained(model) -> dict:
    return {name: w.detach().clone() for name, w in model.named_parameters() if w.requires_grad}


def _rank_main(rank: int, port: int, folder: str) -> None:
    """One of two Gloo processes: a straight run, a run stopped after step 3, and its resumption."""
    os.environ.update({"WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": "2",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from bedside.adapt.features import prepare
    from bedside.adapt.lora import LoraParams, completion_loss, pick_device, train
    from bedside.adapt.records import read_jsonl

    pick_device("cpu")  # joins the group
    examples = prepare(tokenizer(), read_jsonl(DATA / "train.jsonl").records, max_len=64).examples
    p = LoraParams(rank=4, lr=1e-2, max_steps=6, batch_size=2, max_len=64, dropout=0.1, threads=1, device="cpu")
    local: list[float] = []

    def recorded(model, ids, mask, labels):  # the plain loss, noting what this rank saw
        loss = completion_loss(model, ids, mask, labels)
        local.append(loss.item())
        return loss

    straight = train(tiny_llama(), examples, p, pad_id=1, loss_fn=recorded)
    out: dict = {"straight_local": list(local), "losses": straight.losses, "steps": straight.steps,
                 "planned": straight.steps_planned, "epochs": straight.epochs_done,
                 "world": straight.world_size, "effective": straight.effective_batch_size,
                 "unwrapped": type(straight.model).__name__,
                 "weights": trained(straight.model)}

    class Stop(Exception):
        pass

    def stop_after_3(step: int, loss: float) -> None:
        if step == 3:
            raise Stop

    first = Checkpoints(Path(folder) / "run.partial", {"run": 1}, every=2)
    first.open()
    try:
        train(tiny_llama(), examples, p, pad_id=1, checkpoints=first, on_step=stop_after_3)
    except Stop:
        pass
    again = Checkpoints(Path(folder) / "run.partial", {"run": 1}, every=2)
    out["resumed_at"] = again.open()
    resumed = train(tiny_llama(), examples, p, pad_id=1, checkpoints=again)
    out.update(resumed_losses=resumed.losses, resumed_from=resumed.resumed_from,
               resumed_weights=trained(resumed.model),
               checkpoints=[c.name for c in again.steps()])
    torch.save(out, Path(folder) / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_two_ranks_average_their_gradients_end_identical_and_resume_exactly(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_rank_main, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    # 10 records in batches of 2: 5 batches a pass, 3 steps of 2 batches (the last wraps around).
    assert r0["steps"] == r0["planned"] == 6 and r0["epochs"] == 2.0
    assert r0["world"] == 2 and r0["effective"] == 4 and r0["unwrapped"] == "PeftModelForCausalLM"
    # The ranks trained on different batches...
    assert r0["straight_local"] != r1["straight_local"]
    # ...recorded their mean at every step...
    assert r0["losses"] == r1["losses"] == [round((a + b) / 2, 5) for a, b in
                                            zip(r0["straight_local"], r1["straight_local"], strict=True)]
    assert all(math.isfinite(x) for x in r0["losses"])
    # ...and end with the same weights: the gradients were averaged before every step.
    assert r0["weights"].keys() == r1["weights"].keys()
    assert all(torch.equal(r0["weights"][k], r1["weights"][k]) for k in r0["weights"])
    assert all(r0["weights"][k].abs().sum() > 0 for k in r0["weights"] if "lora_B" in k)  # trained: not its zeros
    # Stopped after step 3 (checkpoint at step 2, written by rank 0, read by both) and resumed: the
    # same batches, dropout and learning rates follow, on each rank its own RNG states.
    assert r0["resumed_at"] == r1["resumed_at"] == 2 and r0["resumed_from"] == 2
    assert r0["resumed_losses"] == r1["resumed_losses"] == r0["losses"]
    for k, w in r0["resumed_weights"].items():
        assert torch.equal(w, r1["resumed_weights"][k]) and torch.allclose(w, r0["weights"][k], atol=1e-6)
    assert r0["checkpoints"] == ["step-000006"]


def test_tune_under_torchrun_trains_on_two_processes_and_rank_0_writes_once(tmp_path, bedside_env):
    base = llama_folder(tmp_path / "tiny-base")
    out = tmp_path / "out"
    env = {**os.environ, **bedside_env, "OMP_NUM_THREADS": "1"}
    for key in LAUNCH_ENV:
        env.pop(key, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "bedside", "tune", "--model", str(base), "--data", str(DATA / "train.jsonl"),
               "--eval", str(DATA / "dev.jsonl"), "--out", str(out), "--no-gguf", "--no-deid", "--epochs", "2",
               "--batch-size", "2", "--max-len", "64", "--rank", "4", "--lr", "1e-2", "--device", "cpu",
               "--threads", "1", "--checkpoint-every", "1"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]

    printed = json.loads(result.stdout)  # rank 0 alone prints: one JSON document
    assert printed["out"] == str(out.resolve()) and printed["steps"] == 6
    meta = json.loads((out / "bedside-adapt.json").read_text())
    steps_per_epoch = math.ceil(math.ceil(TRAIN_RECORDS / 2) / 2)  # 5 batches, 2 a step
    assert meta["world_size"] == 2 and meta["effective_batch_size"] == 4
    assert meta["steps"] == meta["steps_planned"] == 2 * steps_per_epoch and meta["epochs_done"] == 2.0
    assert len(meta["losses"]) == 6 and all(math.isfinite(x) for x in meta["losses"])
    assert set(meta["eval"]) == {"before", "after"} and meta["eval"]["after"]["loss"] < meta["eval"]["before"]["loss"]
    assert meta["hyperparameters"]["batch_size"] == 2 and meta["device"] == "cpu"
    # Written once, by rank 0: no second folder, no leftover temporary or checkpoint folders.
    assert sorted(p.name for p in tmp_path.iterdir() if "out" in p.name) == ["out"]
    assert sorted(p.name for p in out.iterdir()) == ["adapter", "bedside-adapt.json", "catalog-entry.toml", "hf"]
    assert result.stderr.count("trained 6 steps") == 1  # rank 1 logs warnings only
