"""The run folder: its layout, atomic writes, and status.

A run folder is the unit of truth: evaluate, predict and later commands need nothing else. Every
file in it is written atomically (temp file in the same folder, fsync, ``os.replace``), so a crash
leaves the previous version or the new one, never a torn file. A run folder is never overwritten.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnkit.errors import ResourceError, RunError

STATES = ("running", "complete", "interrupted", "failed", "diverged")


def atomic_write(path: Path, writer: Callable[[Path], None] | bytes | str) -> None:
    """Write ``path`` atomically from bytes, text, or a function that writes a given temp path.

    Raises:
        ResourceError: the disk is full or the folder is not writable; the temp file is removed
            and any previous ``path`` is left intact.
    """
    # Same folder (so os.replace is atomic) and same suffix (Keras insists on ".keras").
    temp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        if callable(writer):
            writer(temp)
        else:
            data = writer.encode("utf-8") if isinstance(writer, str) else writer
            with open(temp, "wb") as handle:
                handle.write(data)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        raise ResourceError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        if temp.exists():
            temp.unlink()


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries so a rename survives a power cut (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class RunFolder:
    """Paths and file access of one run folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    schema = property(lambda self: self.root / "schema.json")
    checkpoints = property(lambda self: self.root / "checkpoints")
    best = property(lambda self: self.root / "checkpoints" / "best.keras")
    last = property(lambda self: self.root / "checkpoints" / "last.keras")
    history = property(lambda self: self.root / "history.csv")
    metrics = property(lambda self: self.root / "metrics.json")
    status = property(lambda self: self.root / "status.json")
    plots = property(lambda self: self.root / "plots")

    @classmethod
    def create(cls, output_dir: str | Path, name: str, run_dir: str | Path | None = None) -> RunFolder:
        """Create a new, empty run folder; never reuse an existing one.

        Without ``run_dir`` the folder is ``<output_dir>/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``
        ... appended if that exists).

        Raises:
            RunError: ``run_dir`` exists and is not empty.
            ResourceError: the folder cannot be created.
        """
        try:
            if run_dir is not None:
                root = Path(run_dir)
                if root.exists() and (not root.is_dir() or any(root.iterdir())):
                    raise RunError(
                        f"{root}: run folder already exists and is not empty; choose another --run-dir, "
                        f"remove it, or continue it with 'rnnkit train --resume {root}'"
                    )
                root.mkdir(parents=True, exist_ok=True)
            else:
                parent = Path(output_dir)
                parent.mkdir(parents=True, exist_ok=True)
                stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
                root = parent / f"{name}-{stamp}"
                suffix = 1
                while True:
                    try:
                        root.mkdir()
                        break
                    except FileExistsError:
                        suffix += 1
                        root = parent / f"{name}-{stamp}-{suffix}"
            (root / "checkpoints").mkdir(exist_ok=True)
        except OSError as exc:
            raise ResourceError(f"{exc.filename or output_dir}: cannot create run folder: {exc.strerror}") from None
        return cls(root)

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        """Open an existing run folder for reading.

        Raises:
            RunError: the folder or its config.yaml / schema.json is missing.
        """
        root = Path(path)
        if not root.exists():
            raise RunError(f"{root}: run folder not found")
        if not root.is_dir():
            raise RunError(f"{root}: is a file; expected a run folder written by 'rnnkit train'")
        run = cls(root)
        for required in (run.config, run.schema):
            if not required.is_file():
                raise RunError(f"{root}: not a complete run folder: {required.name} is missing")
        return run

    def write_json(self, path: Path, data: Any) -> None:
        atomic_write(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")

    def read_json(self, path: Path, default: Any = None) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return default
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunError(f"{path}: not valid JSON ({exc}); the run folder is corrupt") from None

    def write_status(self, state: str, **fields: Any) -> None:
        """Record the run's state (one of STATES) with the time and any extra fields."""
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}")
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        previous = self.read_json(self.status, {}) or {}
        status = {"state": state, "updated": now, "pid": os.getpid(), **fields}
        status.setdefault("started", previous.get("started", now))
        self.write_json(self.status, status)

    def read_status(self) -> dict[str, Any]:
        return self.read_json(self.status, {}) or {}

    def update_metrics(self, updates: dict[str, Any]) -> dict[str, Any]:
        """Merge ``updates`` into metrics.json one level deep and write it atomically."""
        metrics = self.read_json(self.metrics, {}) or {}
        for key, value in updates.items():
            if isinstance(value, dict) and isinstance(metrics.get(key), dict):
                metrics[key] = {**metrics[key], **value}
            else:
                metrics[key] = value
        self.write_json(self.metrics, metrics)
        return metrics


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (Path, _dt.date)):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
