"""A run folder under faults: resume rules, damaged checkpoints, divergence, OS faults, the
lock, Ctrl-C, evaluate's held-out split and plain progress. Oracles: the exit-code
convention of lava_diffpc.cli (2 bad input, 1 run failure, 130 interrupt), one stderr line
naming the problem, the files left behind, and uninterrupted runs."""

import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest
import torch

from lava_diffpc import train as train_module
from lava_diffpc.cli import main
from lava_diffpc.reference.backprop import BackpropNetwork
from lava_diffpc.reference.network import DiffPCNetwork
from lava_diffpc.runfolder import LOCK_NAME

# 96 samples in batches of 16: 6 batches per epoch, a checkpoint every 2
ARGS = ["train", "--preset", "digits", "--arch", "64-8-10", "--c1", "2", "--c2", "2",
        "--epochs", "1", "--batch-size", "16", "--limit-train", "96", "--limit-test", "40",
        "--models", "diffpc", "--checkpoint-every", "2", "--no-progress"]


def _train(out, *extra):
    return main(ARGS + ["--out", str(out), *extra])


def _error_line(capsys, code_prefix="error: "):
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(code_prefix) and "Traceback" not in err
    return lines[0]


def _leftovers(folder):
    """Temporary or lock files a run left behind (there must be none)."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.endswith(".tmp") or p.name == LOCK_NAME)


@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("done") / "run"
    assert _train(out) == 0
    return out


# ------------------------------------------------------------------------------- resume
def test_resume_refuses_changed_options_and_names_them(done_run, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in done_run.iterdir()}
    assert _train(done_run, "--resume", "--c2", "3", "--lr", "0.01", "--seed", "4") == 2
    line = _error_line(capsys)
    assert "--resume: options differ from the run in" in line
    for named in ("--c2 2 (run) vs 3 (now)", "--lr 0.002 (run) vs 0.01 (now)",
                  "--seed 0 (run) vs 4 (now)"):
        assert named in line
    assert "only --epochs and --max-minutes may change" in line
    assert _train(done_run, "--resume", "--limit-train", "80") == 2
    assert "--limit-train 96 (run) vs 80 (now)" in _error_line(capsys)
    assert {p.name: p.stat().st_mtime_ns for p in done_run.iterdir()} == before
    # the budget may change: one more epoch, and a time budget
    assert _train(done_run, "--resume", "--epochs", "2", "--max-minutes", "30") == 0
    results = json.loads((done_run / "results.json").read_text())
    assert results["diffpc"]["epochs_done"] == 2
    assert json.loads((done_run / "config.json").read_text())["options"]["epochs"] == 2
    # JSON files end in a newline, as text files should
    assert all((done_run / name).read_text().endswith("}\n")
               for name in ("results.json", "config.json"))


def test_resume_alone_takes_the_stored_options(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--seed", "3") == 0
    stored = json.loads((out / "config.json").read_text())
    # only the folder and the budget: every other option comes from config.json
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--no-progress"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["run"] == stored["run"] and config["options"]["seed"] == 3
    assert {k: v for k, v in config["options"].items() if k != "epochs"} == \
        {k: v for k, v in stored["options"].items() if k != "epochs"}
    assert json.loads((out / "results.json").read_text())["diffpc"]["epochs_done"] == 2
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--lr", "0.01"]) == 2
    assert "--lr 0.002 (run) vs 0.01 (now)" in _error_line(capsys)


def test_a_run_stored_before_an_option_existed_resumes_at_its_default(tmp_path, capsys):
    """A config.json without ``rotate``, ``elastic``, ``elastic_sigma`` and ``bound_twin``
    (runs stored before those options) resumes as a run without rotations, distortions and
    a bounded twin; asking for rotations or distortions on resume is refused as a change."""
    out = tmp_path / "run"
    assert _train(out) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["options"].pop("rotate") == 0.0
    assert config["options"].pop("elastic") == 0.0
    assert config["options"].pop("elastic_sigma") is None
    assert config["options"].pop("bound_twin") is False

    def predating():
        (out / "config.json").write_text(json.dumps(config))

    predating()
    assert main(["train", "--out", str(out), "--resume", "--epochs", "3", "--augment",
                 "--rotate", "5"]) == 2
    assert "--rotate 0.0 (run) vs 5.0 (now)" in _error_line(capsys)
    predating()
    assert main(["train", "--out", str(out), "--resume", "--epochs", "3", "--augment",
                 "--elastic", "8"]) == 2
    assert "--elastic 0.0 (run) vs 8.0 (now)" in _error_line(capsys)
    predating()
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--no-progress"]) == 0
    assert json.loads((out / "results.json").read_text())["diffpc"]["epochs_done"] == 2


def test_resume_without_a_checkpoint_says_so_and_creates_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    assert _train(out, "--resume") == 2
    assert "--resume: no checkpoint-*.pt in" in _error_line(capsys)
    assert not out.exists()


def test_a_second_start_without_resume_is_refused(done_run, capsys):
    assert _train(done_run) == 2
    assert "checkpoint-diffpc.pt exists; pass --resume" in _error_line(capsys)


# -------------------------------------------------------------------- damaged checkpoints
def _damage(path, how):
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    elif how == "corrupt":
        path.write_bytes(np.random.default_rng(0).bytes(3000))
    else:  # foreign: a valid torch file that is no checkpoint of ours
        torch.save({"model": torch.zeros(3)}, path)


@pytest.mark.parametrize("how, problem", [("truncated", "is truncated or corrupt"),
                                          ("corrupt", "is truncated or corrupt"),
                                          ("foreign", "is not a lava_diffpc checkpoint")])
def test_a_damaged_checkpoint_is_named_by_resume_evaluate_and_figures(tmp_path, capsys, how,
                                                                      problem):
    out = tmp_path / "run"
    assert _train(out) == 0
    ckpt = out / "checkpoint-diffpc.pt"
    _damage(ckpt, how)
    capsys.readouterr()
    for argv in (ARGS + ["--out", str(out), "--resume", "--epochs", "2"],
                 ["evaluate", str(out), "--no-progress"],
                 ["evaluate", str(ckpt), "--no-progress"],
                 ["figures", str(out), "--what", "spikes", "--out", str(tmp_path / "f")]):
        assert main(argv) == 2, argv
        line = _error_line(capsys)
        assert f"{ckpt} {problem}" in line, line
    assert not (tmp_path / "f").exists()
    assert _leftovers(out) == []


def test_evaluate_refuses_diverged_weights(done_run, tmp_path, capsys):
    state = torch.load(done_run / "checkpoint-diffpc.pt", weights_only=False)
    state["params"][0][0, 0] = float("nan")
    bad = tmp_path / "checkpoint-diffpc.pt"
    torch.save(state, bad)
    assert main(["evaluate", str(bad), "--no-progress"]) == 2
    assert f"{bad}: the diffpc weights hold NaN or inf" in _error_line(capsys)


# ---------------------------------------------------------------------------- divergence
@pytest.mark.parametrize("model_cls, kind", [(DiffPCNetwork, "diffpc"),
                                             (BackpropNetwork, "bp")])
def test_divergence_stops_with_exit_1_and_keeps_the_last_good_checkpoint(
        tmp_path, capsys, monkeypatch, model_cls, kind):
    original, calls = model_cls.gradients, {"n": 0}

    def nan_at_batch_4(self, *args, **kwargs):
        grads, pred = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 4:
            grads = [g * float("nan") for g in grads]
        return grads, pred

    monkeypatch.setattr(model_cls, "gradients", nan_at_batch_4)
    out = tmp_path / "run"
    assert _train(out, "--models", kind) == 1
    line = _error_line(capsys)
    assert f"{kind} diverged at epoch 1, batch 4: non-finite gradients or loss" in line
    assert f"the last good checkpoint {out / f'checkpoint-{kind}.pt'} is kept" in line
    state = torch.load(out / f"checkpoint-{kind}.pt", weights_only=False)
    assert (state["epoch"], state["batch"]) == (0, 2)
    assert all(torch.isfinite(p).all() for p in state["params"])
    assert _leftovers(out) == []
    monkeypatch.setattr(model_cls, "gradients", original)  # the run continues from there
    assert _train(out, "--models", kind, "--resume") == 0


def test_a_checkpoint_is_never_written_with_non_finite_weights(tmp_path):
    from lava_diffpc.data import load_dataset
    from lava_diffpc.presets import preset

    ds = load_dataset("digits", limit_train=32)
    data = tuple(torch.from_numpy(a) for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test))
    opts = {**preset("digits"), "arch": "64-8-10", "c1": 2, "c2": 2, "seed": 0}
    trainer = train_module.Trainer(train_module.build_model("diffpc", opts), "diffpc", data,
                                   train_module.TrainConfig(epochs=1, batch_size=16),
                                   tmp_path, opts)
    trainer.model.parameters[0][0, 0] = float("inf")
    with pytest.raises(train_module.Diverged, match="non-finite weights"):
        trainer.save()
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- OS faults
def test_a_file_shaped_out_or_json_path_is_one_line(tmp_path, capsys, done_run):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert _train(blocker) == 2
    assert f"--out {blocker} is a file, not a folder" in _error_line(capsys)
    assert _train(blocker / "run") == 2
    assert "is a file, not a folder" in _error_line(capsys)
    assert main(["evaluate", str(done_run), "--json", str(tmp_path)]) == 2
    assert f"--json {tmp_path} is a folder, not a file" in _error_line(capsys)
    assert main(["bench", "--json", str(blocker / "b.json")]) == 2
    assert "is a file, not a folder" in _error_line(capsys)
    assert blocker.read_text() == "not a folder"


def test_an_unwritable_out_is_one_line(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # permissions do not bind root: deny as the OS would
        from lava_diffpc import runfolder

        real_access = os.access
        monkeypatch.setattr(runfolder.os, "access", lambda path, mode: (
            not str(path).startswith(str(locked)) and real_access(path, mode)))
    try:
        assert _train(locked / "run") == 2
        assert f"no permission to write in {locked}" in _error_line(capsys)
        assert main(["evaluate", "x", "--json", str(locked / "e.json")]) == 2
        assert "no permission to write in" in _error_line(capsys)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_an_os_fault_while_checkpointing_is_exit_1_and_leaves_no_tmp(tmp_path, capsys,
                                                                     monkeypatch):
    real_save, calls = torch.save, {"n": 0}

    def disk_full_on_second_save(obj, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            with open(path, "wb") as fh:  # a half-written temporary file
                fh.write(b"partial")
            raise OSError(28, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full_on_second_save)
    out = tmp_path / "run"
    assert _train(out) == 1
    line = _error_line(capsys)
    assert f"cannot write {out / 'checkpoint-diffpc.pt'}: No space left on device" in line
    assert "the previous checkpoint is kept" in line and "--resume" in line
    assert _leftovers(out) == []
    state = torch.load(out / "checkpoint-diffpc.pt", weights_only=False)
    assert (state["epoch"], state["batch"]) == (0, 2)


# ---------------------------------------------------------------------------------- lock
def test_a_run_folder_in_use_is_refused_and_a_stale_lock_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket

        (out / LOCK_NAME).write_text(json.dumps({"pid": sleeper.pid,
                                                 "host": socket.gethostname()}))
        assert _train(out) == 2
        line = _error_line(capsys)
        assert f"run folder {out} is in use by process {sleeper.pid}" in line
        assert not (out / "checkpoint-diffpc.pt").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    # the owner is gone (killed): its lock is stale and does not block
    assert _train(out) == 0
    assert _leftovers(out) == []


def test_the_lock_is_held_while_training_and_removed_after(tmp_path, monkeypatch):
    seen = []
    original = train_module.Trainer._train_batch

    def look(self, x, y):
        lock = self.run_dir / LOCK_NAME
        seen.append(json.loads(lock.read_text())["pid"] if lock.exists() else None)
        original(self, x, y)

    monkeypatch.setattr(train_module.Trainer, "_train_batch", look)
    out = tmp_path / "run"
    assert _train(out) == 0
    assert seen == [os.getpid()] * 6
    assert _leftovers(out) == []


# ------------------------------------------------------------------------------- Ctrl-C
def _interrupt_at(monkeypatch, batch):
    original, calls = train_module.Trainer._train_batch, {"n": 0}

    def interrupt(self, x, y):
        if calls["n"] == batch:
            raise KeyboardInterrupt
        calls["n"] += 1
        original(self, x, y)

    monkeypatch.setattr(train_module.Trainer, "_train_batch", interrupt)
    return original


def test_ctrl_c_is_one_line_exit_130_and_the_line_continues_the_run(tmp_path, capsys,
                                                                     monkeypatch):
    out = tmp_path / "run"
    original = _interrupt_at(monkeypatch, 5)
    assert _train(out, "--epochs", "2") == 130
    line = _error_line(capsys, code_prefix="interrupted")
    assert line.startswith("interrupted at epoch 1, batch 5 of diffpc (last checkpoint: "
                           "diffpc at epoch 1, batch 4); continue with: python -m "
                           "lava_diffpc train ")
    assert line.endswith(" --resume")
    assert _leftovers(out) == []
    monkeypatch.setattr(train_module.Trainer, "_train_batch", original)
    argv = shlex.split(line.split("continue with: ", 1)[1])[3:]
    assert main(argv) == 0
    straight = tmp_path / "straight"
    assert _train(straight, "--epochs", "2") == 0
    for name in ("checkpoint-diffpc.pt",):
        a = torch.load(out / name, weights_only=False)["params"]
        b = torch.load(straight / name, weights_only=False)["params"]
        assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_ctrl_c_before_the_first_checkpoint_leaves_no_folder(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    _interrupt_at(monkeypatch, 1)
    assert _train(out) == 130
    line = _error_line(capsys, code_prefix="interrupted")
    assert "before the first checkpoint (nothing kept); start again with:" in line
    assert "--resume" not in line
    assert not out.exists()


def test_a_refused_start_leaves_no_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--arch", "64-8-7") == 2  # digits has 10 classes
    assert "needs 64 inputs and 10 outputs" in _error_line(capsys)
    assert not out.exists()


# -------------------------------------------------------------- evaluate: held-out split
def test_evaluate_uses_exactly_the_runs_held_out_split(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--heldout", "24", "--models", "diffpc,bp") == 0
    results = json.loads((out / "results.json").read_text())
    assert results["n_train"] == 72 and results["n_heldout"] == 24
    config = json.loads((out / "config.json").read_text())
    assert config["heldout"]["from_train_samples"] == 96 and config["heldout"]["n"] == 24
    capsys.readouterr()
    assert main(["evaluate", str(out), "--no-progress", "--json",
                 str(tmp_path / "e" / "e.json")]) == 0
    printed = capsys.readouterr().out
    evaluated = json.loads((tmp_path / "e" / "e.json").read_text())
    for model in ("diffpc", "bp"):
        assert evaluated[model]["backend"] == results[model]["backend"] == "reference"
        assert evaluated[model]["heldout_acc"] == results[model]["final_heldout_acc"]
        assert evaluated[model]["test_acc"] == results[model]["final_test_acc"]
    assert printed.count("with the reference backend") == 4  # every accuracy names it
    # a run whose recorded split cannot be reproduced is refused
    config["heldout"]["sha256"] = "0" * 64
    (out / "config.json").write_text(json.dumps(config))
    assert main(["evaluate", str(out), "--no-progress"]) == 2
    assert "is not the run's" in _error_line(capsys)


# ------------------------------------------------------------------------------ progress
def test_progress_is_plain_lines_when_stdout_is_no_terminal(tmp_path, capsys):
    argv = [a for a in ARGS if a != "--no-progress"] + ["--out", str(tmp_path / "run")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.out and "\r" not in captured.err
    assert captured.err == ""
    assert "results:" in captured.out


@pytest.mark.slow
def test_a_real_sigint_is_one_line_and_exit_130(tmp_path):
    """SIGINT to a real process in the middle of training (not a simulated exception)."""
    import signal
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"
    argv = ARGS + ["--epochs", "500", "--out", str(out)]  # the last --epochs counts
    proc = subprocess.Popen([sys.executable, "-m", "lava_diffpc", *argv], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)},
                            # a shell's background job inherits SIGINT ignored; restore it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out / "checkpoint-diffpc.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted at epoch "), err
    assert lines[0].endswith("--resume")
    assert _leftovers(out) == []
