"""Data-parallel training: two CPU ranks (gloo) against one process.

Oracles: the single-process run with the same global batch (the mean of the ranks'
half-batch gradient means is the full-batch mean up to float32 summation order), an
uninterrupted two-rank run (a resumed one continues bit for bit), and the launch rules
(torchrun's environment, the even split of the global batch).
"""

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from lava_diffpc import distributed
from lava_diffpc.cli import main
from lava_diffpc.metrics import CommStats

# float32 weights after 20 AdamW steps: the two-rank run differs from one process only by
# the summation order of the gradient means. Measured, per tensor, max |diff| / max |w|:
# 5.8e-8 (DiffPC) and 1.2e-7 (backprop), with ~9% of the weights differing at all; the
# records (accuracies, spike counts) are identical.
REL_TOL = 1e-6
ARGS = ["train", "--preset", "digits", "--arch", "64-16-10", "--c1", "3", "--c2", "3",
        "--dropout", "0", "--epochs", "2", "--lr", "1e-3", "--limit-train", "145",
        "--limit-test", "100", "--checkpoint-every", "3", "--models", "diffpc,bp",
        "--no-progress", "--threads", "1"]
# 145 samples in batches of 16: 9 full batches (8 rows per rank) and one of 1 row, which
# leaves rank 0 no rows at all


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _torchrun_env(rank, world, port):
    return {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}


def _worker(rank, world, ports, tmp):
    """One rank: the scenarios of the two-rank test, each as a torchrun'd ``train``."""
    from lava_diffpc import train
    from lava_diffpc.commands import train as train_command

    torch.set_num_threads(1)
    log = {"writes": [], "loads": [], "rc": {}, "stderr": {}}
    weights = {}
    save_atomic, write_json = train.save_atomic, train_command.write_json
    load, finish = train.Trainer.load, train.Trainer._finish_epoch
    train_batch = train.Trainer._train_batch

    def logged_save(obj, path):
        log["writes"].append(path.name)
        save_atomic(obj, path)

    def logged_json(obj, path):
        log["writes"].append(path.name)
        write_json(obj, path)

    def logged_load(self, path):
        load(self, path)
        log["loads"].append([self.name, self.epoch, self.batch])

    def keep_weights(self, progress):
        weights.setdefault(scenario, {})[self.name] = [p.clone() for p in self.model.parameters]
        return finish(self, progress)

    calls = {"n": 0}

    def crash_after_seven(self, x, y):
        if calls["n"] == 7:  # epoch 1: the last checkpoint was at batch 6
            raise KeyboardInterrupt
        calls["n"] += 1
        train_batch(self, x, y)

    train.save_atomic, train_command.write_json = logged_save, logged_json
    train.Trainer.load, train.Trainer._finish_epoch = logged_load, keep_weights
    runs = {"straight": ["--out", f"{tmp}/straight", "--batch-size", "16"],
            "odd": ["--out", f"{tmp}/odd", "--batch-size", "15"],
            "crash": ["--out", f"{tmp}/resumed", "--batch-size", "16"],
            "resume": ["--out", f"{tmp}/resumed", "--batch-size", "16", "--resume"]}
    for (scenario, extra), port in zip(runs.items(), ports):
        os.environ.update(_torchrun_env(rank, world, port))
        if scenario == "crash":
            train.Trainer._train_batch = crash_after_seven
        if scenario == "resume":
            train.Trainer._train_batch = train_batch
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            log["rc"][scenario] = main(ARGS + extra)
        assert not distributed.active()  # the session left the group on the way out
        log["stderr"][scenario] = err.getvalue()
    (tmp / f"log{rank}.json").write_text(json.dumps(log))
    torch.save(weights, tmp / f"weights{rank}.pt")


def _final_params(run_dir, name):
    return torch.load(run_dir / f"checkpoint-{name}.pt", weights_only=False)["params"]


def _history(run_dir, name):
    """The epoch records without the timings."""
    hist = json.loads((run_dir / "results.json").read_text())[name]["history"]
    return [{k: v for k, v in h.items() if "seconds" not in k and "per_s" not in k}
            for h in hist]


@pytest.mark.slow
def test_two_cpu_ranks_match_one_process_write_once_and_resume(tmp_path):
    mp.spawn(_worker, args=(2, _free_ports(4), tmp_path), nprocs=2, join=True)
    torch.set_num_threads(1)
    assert main(ARGS + ["--out", str(tmp_path / "single"), "--batch-size", "16"]) == 0
    logs = [json.loads((tmp_path / f"log{r}.json").read_text()) for r in range(2)]
    weights = [torch.load(tmp_path / f"weights{r}.pt") for r in range(2)]

    # every rank holds the same weights after every epoch
    for scenario in ("straight", "resume"):
        for name, params in weights[0][scenario].items():
            assert all(torch.equal(p, q) for p, q in zip(params, weights[1][scenario][name]))

    # global batch 16 on 2 ranks = batch 16 in one process, up to summation order
    for name in ("diffpc", "bp"):
        single = _final_params(tmp_path / "single", name)
        dist = _final_params(tmp_path / "straight", name)
        for p, q in zip(single, dist):
            assert (p - q).abs().max() <= REL_TOL * p.abs().max()
        assert _history(tmp_path / "single", name) == _history(tmp_path / "straight", name)

    # rank 0 alone writes; rank 1 wrote nothing in any scenario
    assert {"checkpoint-diffpc.pt", "checkpoint-bp.pt", "results.json",
            "config.json"} <= set(logs[0]["writes"])
    assert logs[1]["writes"] == []

    # a global batch that does not split over the ranks: one clear line, nothing trained
    for log in logs:
        assert log["rc"]["odd"] == 2
        assert ("error: --batch-size 15 is the global batch, split evenly over 2 processes; "
                "choose a multiple of 2 (e.g. 14 or 16) or another --nproc-per-node"
                in log["stderr"]["odd"].splitlines())
    assert not (tmp_path / "odd" / "checkpoint-diffpc.pt").exists()

    # interrupted mid-epoch 1 (exit 130, one line naming the command that continues),
    # resumed on both ranks from rank 0's checkpoint (diffpc at batch 6; bp had not started
    # and starts afresh), continues to the uninterrupted run's weights and records
    for log in logs:
        assert log["rc"] == {"straight": 0, "odd": 2, "crash": 130, "resume": 0}
        assert log["loads"] == [["diffpc", 0, 6]]
        line, = log["stderr"]["crash"].splitlines()
        assert line.startswith("interrupted at epoch 1, batch 7 of diffpc (last checkpoint: "
                               "diffpc at epoch 1, batch 6); continue with: ")
        assert line.endswith("--resume") and "Traceback" not in log["stderr"]["crash"]
    for name in ("diffpc", "bp"):
        resumed = _final_params(tmp_path / "resumed", name)
        straight = _final_params(tmp_path / "straight", name)
        assert all(torch.equal(p, q) for p, q in zip(straight, resumed))
        assert _history(tmp_path / "resumed", name) == _history(tmp_path / "straight", name)


@pytest.mark.slow
def test_torchrun_launch(tmp_path):
    """The real launcher: ``torchrun --nproc-per-node 2 -m lava_diffpc train``."""
    port = _free_ports(1)[0]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "lava_diffpc",
           *ARGS, "--epochs", "1", "--out", str(tmp_path / "tr"), "--batch-size", "16"]
    root = str(Path(distributed.__file__).parents[1])  # this checkout's package
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=root,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": root})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("results:") == 1  # rank 0 prints, rank 1 is silent
    torch.set_num_threads(1)
    assert main(ARGS + ["--epochs", "1", "--out", str(tmp_path / "one"),
                        "--batch-size", "16"]) == 0
    for name in ("diffpc", "bp"):
        for p, q in zip(_final_params(tmp_path / "one", name),
                        _final_params(tmp_path / "tr", name)):
            assert (p - q).abs().max() <= REL_TOL * p.abs().max()


class _SignModel:
    """Predicts class 1 for a positive first feature, else 0; counts one spike a sample."""

    def predict(self, x, stats=None):
        if stats is not None:
            stats.add("ff", 0, activity=len(x))
            stats.add_samples("ff", len(x))
        return (x[:, 0] > 0).long()


def _helpers_worker(rank, world, port, tmp):
    from lava_diffpc.train import evaluate

    torch.set_num_threads(1)
    os.environ.update(_torchrun_env(rank, world, port))
    out = {}
    with distributed.session("cpu") as device:
        out["device"], out["silenced"] = device, sys.stdout.name == os.devnull
        out["who"] = [distributed.rank(), distributed.world_size(), distributed.is_main()]
        f32 = torch.full((2, 3), float(rank + 1))
        f64 = torch.arange(3, dtype=torch.float64) * (rank + 1)
        out["mean"] = [t.tolist() for t in distributed.average([f32, f64])]
        out["weighted"] = distributed.average([f32], weight=(0.25, 0.75)[rank])[0].tolist()
        stats = CommStats((2, 3), {"ff": 1})
        stats.add("ff", 1, activity=rank + 1, error=10)
        stats.add_samples("ff", 4)
        out["counts"] = distributed.all_reduce_counts([rank + 1, 7], stats)
        out["stats"] = [stats.activity["ff"].tolist(), stats.error["ff"].tolist(),
                        stats.samples["ff"], stats.samples["learn"]]
        out["from_main"] = distributed.from_main(f"rank {rank}")
        x = torch.tensor([[1.0], [-1.0], [2.0], [3.0], [-2.0], [1.0], [-1.0]])
        y = torch.tensor([1, 0, 0, 1, 1, 1, 0])  # 5 of 7 right, shards of 3 and 4
        test_stats = CommStats((1,), {"ff": 1})
        out["acc"] = evaluate(_SignModel(), x, y, batch_size=2, stats=test_stats, shard=True)
        out["test_samples"] = test_stats.samples["ff"]
    out["active_after"] = distributed.active()
    (tmp / f"helpers{rank}.json").write_text(json.dumps(out))


def test_collectives_on_two_cpu_ranks(tmp_path):
    mp.spawn(_helpers_worker, args=(2, _free_ports(1)[0], tmp_path), nprocs=2, join=True)
    outs = [json.loads((tmp_path / f"helpers{r}.json").read_text()) for r in range(2)]
    for rank, out in enumerate(outs):
        assert out["device"] == "cpu" and out["silenced"] == (rank == 1)
        assert out["who"] == [rank, 2, rank == 0]
        assert out["mean"] == [[[1.5] * 3] * 2, [0.0, 1.5, 3.0]]
        assert out["weighted"] == [[0.25 * 1 + 0.75 * 2] * 3] * 2
        assert out["counts"] == [3, 14]
        assert out["stats"] == [[0, 3], [0, 20], 8, 0]
        assert out["from_main"] == "rank 0"
        assert out["acc"] == 5 / 7 and out["test_samples"] == 7
        assert not out["active_after"]


# ------------------------------------------------------------- launch rules, one process
def test_launch_from_env():
    assert distributed.launch_from_env({}) is None
    assert distributed.launch_from_env(_torchrun_env(0, 1, 1234)) is None  # world size 1
    launch = distributed.launch_from_env({**_torchrun_env(3, 4, 1234), "LOCAL_RANK": "1"})
    assert launch == distributed.Launch(rank=3, world_size=4, local_rank=1)
    with pytest.raises(ValueError, match="MASTER_ADDR, MASTER_PORT missing; start the run "
                                         "with torchrun"):
        distributed.launch_from_env({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(ValueError, match="RANK=2, WORLD_SIZE=2"):
        distributed.launch_from_env(_torchrun_env(2, 2, 1234))
    with pytest.raises(ValueError, match="must be integers"):
        distributed.launch_from_env({**_torchrun_env(0, 2, 1234), "RANK": "x"})
    with pytest.raises(ValueError, match="no GPU visible|start at most"):
        distributed.rank_device("cuda", distributed.Launch(1, 2, 64))
    with pytest.raises(ValueError, match="cpu \\(gloo\\) or cuda \\(nccl\\)"):
        distributed.rank_device("mps", distributed.Launch(1, 2, 1))


def test_batch_split_and_shards():
    distributed.check_batch_split(16, 4)
    with pytest.raises(ValueError, match=r"choose a multiple of 4 \(e.g. 8 or 12\)"):
        distributed.check_batch_split(10, 4)
    with pytest.raises(ValueError, match=r"multiple of 8 \(e.g. 8\)"):
        distributed.check_batch_split(3, 8)
    assert [distributed.shard(16, r, 2) for r in range(2)] == [(0, 8), (8, 16)]
    assert [distributed.shard(1, r, 2) for r in range(2)] == [(0, 0), (0, 1)]
    assert [distributed.shard(10, r, 4) for r in range(4)] == [(0, 2), (2, 5), (5, 7), (7, 10)]


def test_single_process_is_untouched(monkeypatch):
    for var in distributed.LAUNCH_VARS:
        monkeypatch.delenv(var, raising=False)
    with distributed.session("cpu") as device:
        assert device == "cpu" and not distributed.active()
        assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
        grads = [torch.ones(2), torch.zeros(3, dtype=torch.float64)]
        assert all(a is b for a, b in zip(distributed.average(grads), grads))
        stats = CommStats((2, 3), {"ff": 1})
        stats.add("ff", 1, activity=5)
        assert distributed.all_reduce_counts([3, 4], stats) == [3, 4]
        assert stats.activity["ff"].tolist() == [0, 5]
        assert distributed.from_main({"a": 1}) == {"a": 1}
