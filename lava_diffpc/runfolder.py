"""A run folder on disk: where output may go, who uses it, and what it holds.

* :func:`check_folder` / :func:`check_file`: an ``--out`` folder or ``--json`` file can be
  written (checked before any work, so a bad path costs nothing and leaves nothing);
* :class:`RunLock`: ``run.lock`` holds the process id and host of the run using the
  folder; a second run into it is refused while that process lives, and a lock left by a
  killed process is taken over (its pid is checked). Removed at exit, also on error;
* :func:`open_run_folder`: create the folder (remembering whether it existed), take the
  lock, and on failure remove what this run created when nothing of value was written;
* :func:`read_config`: the run's ``config.json`` (options, data, held-out split).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CONFIG_NAME = "config.json"
LOCK_NAME = "run.lock"
KEEP = ("checkpoint-*.pt", "results.json")  # what makes a run folder worth keeping
FRESH_LOCK_SECONDS = 10.0  # an empty lock file this young is being written, not stale


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder(path: Path, option: str = "--out") -> None:
    """ValueError unless ``path`` is, or can be created as, a writable folder."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file, not a folder; choose another {option}")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise ValueError(f"{option} {path}: {base} is a file, not a folder; choose another "
                         f"{option}")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: no permission to write in {base}; choose another "
                         f"{option}")


def check_file(path: Path, option: str = "--json") -> None:
    """ValueError unless a file can be written at ``path`` (its folder may be created)."""
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder, not a file; pass a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{option} {path}: no permission to overwrite it; choose another "
                         f"{option}")
    check_folder(path.parent, option=f"{option} {path}: folder")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class RunLock:
    """``run.lock`` in a run folder (module docstring); use as a context manager."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK_NAME
        self.owner = {"pid": os.getpid(), "host": socket.gethostname()}
        self.held = False

    def holder(self) -> dict[str, Any] | None:
        """The live owner of an existing lock, or None when the lock is stale."""
        try:
            text = self.path.read_text()
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        try:
            owner = json.loads(text)
            pid, host = int(owner["pid"]), str(owner["host"])
        except (ValueError, KeyError, TypeError):  # empty or damaged
            return {"pid": "?", "host": "?"} if age < FRESH_LOCK_SECONDS else None
        if host != self.owner["host"]:
            return owner  # cannot check a process on another machine
        return owner if _alive(pid) else None

    def check(self) -> None:
        """ValueError when a live process holds the lock (a stale lock passes)."""
        holder = self.holder()
        if holder is not None:
            raise ValueError(
                f"run folder {self.path.parent} is in use by process {holder['pid']} on "
                f"{holder['host']} (lock file {self.path}); wait for it to end, choose "
                "another --out, or delete the lock file if that process is gone")

    def acquire(self) -> None:
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self.check()
                self.path.unlink(missing_ok=True)  # stale: its process was killed
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(self.owner))
            self.held = True
            return
        raise ValueError(f"cannot take the lock {self.path}: another run keeps taking it; "
                         "choose another --out")

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.path.read_text()).get("pid") == self.owner["pid"]:
                self.path.unlink()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def worth_keeping(folder: Path) -> bool:
    """Whether a run folder holds a checkpoint or results (not only config and lock)."""
    return any(next(folder.glob(pattern), None) is not None for pattern in KEEP)


@contextlib.contextmanager
def open_run_folder(folder: Path, lock: bool = True) -> Iterator[Path]:
    """Create ``folder`` if needed and hold its lock for the body. When the body fails and
    this call created the folder, the folder goes again unless it holds a checkpoint or
    results (so a refused or interrupted start leaves no empty run folder)."""
    check_folder(folder)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the run folder {folder}: {exc.strerror or exc}; "
                         "choose another --out") from None
    try:
        with RunLock(folder) if lock else contextlib.nullcontext():
            yield folder
    except BaseException:
        if created and not worth_keeping(folder):
            with contextlib.suppress(OSError):
                (folder / CONFIG_NAME).unlink(missing_ok=True)
                folder.rmdir()
        raise


def read_config(folder: Path) -> dict[str, Any] | None:
    """The run's ``config.json``; None when absent; ValueError naming it when unreadable."""
    path = folder / CONFIG_NAME
    if not path.exists():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is unreadable ({exc}); restore it or start the run over "
                         "in another --out") from None
    if not isinstance(config, dict) or not isinstance(config.get("options"), dict):
        raise ValueError(f"{path} holds no run options; restore it or start the run over in "
                         "another --out")
    return config
