"""The run folder: its layout, atomic writes, and status.

A run folder is the unit of truth: evaluate, predict and later commands need nothing else. Every
file in it is written atomically (temp file in the same folder, fsync, ``os.replace``), so a crash
leaves the previous version or the new one, never a torn file. A run folder is never overwritten.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import shutil
import signal
import socket
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rnnkit.config import Config, load_config
from rnnkit.errors import ConfigError, ResourceError, RunError
from rnnkit.files import describe_os_error, file_kind, fsync_dir, regular_file, temporary_sibling
from rnnkit.run_files import (
    RUN_FORMAT,
    STATE_ENTRY,
    STATES,
    CheckpointState,
    RunMetrics,
    RunStatus,
    check_model,
    read_archive_json,
    read_json_object,
    read_manifest,
    validate,
)

FAULT_ENV = "RNNKIT_FAULT_INJECT"  # test hook: "<point>:<epoch>" kills the process at that point


def fault_point(point: str, epoch: int) -> None:
    """Kill this process with SIGKILL when ``RNNKIT_FAULT_INJECT`` names this point and epoch.

    Crash-safety tests use it to stop training at exact moments (mid-epoch, while a checkpoint
    is written, between a checkpoint and its manifest entry). Unset, it costs one dict lookup.
    """
    if os.environ.get(FAULT_ENV) == f"{point}:{epoch}":
        os.kill(os.getpid(), signal.SIGKILL)


def atomic_write(path: Path, writer: Callable[[Path], None] | bytes | str) -> None:
    """Write ``path`` atomically from bytes, text, or a function that writes a given temp path.

    Raises:
        ResourceError: the disk is full or the folder is not writable; the temp file is removed
            and any previous ``path`` is left intact.
    """
    temp = temporary_sibling(path)
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
        raise ResourceError(f"{path}: cannot write: {describe_os_error(exc)}") from None
    finally:
        if temp.exists():
            temp.unlink()


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
    manifest = property(lambda self: self.root / "checkpoints" / "manifest.json")
    lock_file = property(lambda self: self.root / ".lock")
    log = property(lambda self: self.root / "train.log")

    def checkpoint(self, name: str) -> Path:
        return self.root / "checkpoints" / f"{name}.keras"

    @staticmethod
    def plan(output_dir: str | Path, name: str, run_dir: str | Path | None = None) -> Path:
        """The folder :meth:`create` will make, known before the data is read so that it can be
        named at once: ``run_dir``, or ``<output_dir>/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``
        ... appended if that exists).

        Raises:
            RunError: ``run_dir`` is a file, or a folder that is not empty.
        """
        if run_dir is not None:
            _check_new_folder(Path(run_dir))
            return Path(run_dir)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        root = Path(output_dir) / f"{name}-{stamp}"
        suffix = 1
        while root.exists():
            suffix += 1
            root = Path(output_dir) / f"{name}-{stamp}-{suffix}"
        return root

    @classmethod
    def create(
        cls, output_dir: str | Path, name: str, run_dir: str | Path | None = None, planned: Path | None = None
    ) -> RunFolder:
        """Create a new, empty run folder; never reuse an existing one.

        The folder is ``planned`` (from :meth:`plan`) or, if another process has taken that name
        meanwhile, the next free ``-2``, ``-3`` ... name; with ``run_dir``, exactly that folder.

        Raises:
            RunError: ``run_dir`` exists and is not empty.
            ResourceError: the folder cannot be created.
        """
        root = planned if planned is not None else cls.plan(output_dir, name, run_dir)
        try:
            if run_dir is not None:
                _check_new_folder(root)
                root.mkdir(parents=True, exist_ok=True)
            else:
                root.parent.mkdir(parents=True, exist_ok=True)
                base, suffix = root, 1
                while True:
                    try:
                        root.mkdir()
                        break
                    except FileExistsError:
                        suffix += 1
                        root = base.with_name(f"{base.name}-{suffix}")
            (root / "checkpoints").mkdir(exist_ok=True)
        except OSError as exc:
            raise ResourceError(f"{exc.filename or output_dir}: cannot create run folder: {describe_os_error(exc)}") from None
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
            if not required.exists() and not required.is_symlink():
                raise RunError(f"{root}: not a complete run folder: {required.name} is missing")
            regular_file(required, RunError, f"run's {required.name}")
        run.check_links()
        return run

    def check_links(self) -> None:
        """Refuse a run folder whose subfolders or lock file are symbolic links: writing through
        them (plots, checkpoints, an export) would write outside the run folder.

        Raises:
            RunError: naming the link.
        """
        for name in ("checkpoints", "plots", "plots/files", "export", "tensorboard", self.lock_file.name, self.log.name):
            path = self.root / name
            if path.is_symlink():
                raise RunError(
                    f"{path}: is a symbolic link (to {os.readlink(path)}); rnnkit writes only inside the run folder, "
                    "so it must be a real folder or absent"
                )

    def subfolder(self, *parts: str) -> Path:
        """``root/parts``, created if needed, after checking that no part is a symbolic link.

        Raises:
            RunError: a part is a link (or a file) rather than a folder inside the run folder.
        """
        folder = self.root
        for part in parts:
            folder = folder / part
            if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                raise RunError(
                    f"{folder}: is a symbolic link or a file, not a folder of the run; rnnkit writes only inside the run folder"
                )
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResourceError(f"{folder}: cannot create: {describe_os_error(exc)}") from None
        return folder

    def copy_to(self, parent: Path) -> RunFolder:
        """A private copy of this run folder inside ``parent``, without its lock.

        A multi-worker run's non-chief workers resume from one, so only the chief writes here.
        """
        target = Path(parent) / self.root.name
        shutil.copytree(self.root, target, ignore=shutil.ignore_patterns(self.lock_file.name))
        return RunFolder(target)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run folder's write lock: one writer per run folder.

        The lock is an ``flock`` on ``.lock``, released by the OS when its process dies, so a
        stale lock from a killed process is simply taken over.

        Raises:
            ResourceError: another live process holds it (named by pid and host).
        """
        import fcntl

        try:
            # O_NOFOLLOW: a .lock planted as a link must not make rnnkit truncate the file it points to.
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
            handle = open(fd, "a+", encoding="utf-8")  # noqa: SIM115 - held for the context
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RunError(f"{self.lock_file}: is a symbolic link; rnnkit writes only inside the run folder") from None
            raise ResourceError(f"{self.lock_file}: cannot open lock file: {describe_os_error(exc)}") from None
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise ResourceError(
                    f"{self.root}: run folder is in use by {holder}; wait for it to finish or stop that process"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
            handle.flush()
            yield
        finally:
            handle.close()

    def append_log(self, text: str) -> None:
        """Append a timestamped line to train.log: what training said, epoch by epoch.

        Appended, not rewritten (a run of many epochs would rewrite it each epoch); a crash can
        cut its last line short, never an earlier one. Best effort: a log that cannot be written
        never stops training (a full disk stops it at the next checkpoint, with its own error).
        """
        line = f"{_dt.datetime.now():%Y-%m-%d %H:%M:%S} {text}\n".encode()
        try:
            fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError:
            return
        try:
            os.write(fd, line)
        except OSError:
            pass
        finally:
            os.close(fd)

    def remove_stale_temps(self) -> list[Path]:
        """Delete temp files left by a killed writer; call only while holding :meth:`lock`."""
        stale = [p for p in self.root.rglob(".*.tmp-*") if p.is_file()]
        for path in stale:
            path.unlink()
        return stale

    # -- the run's files, each validated before use (rnnkit.run_files) ---------------------

    def read_config(self) -> Config:
        """The run's config.yaml, loaded and validated by :func:`rnnkit.config.load_config` (its
        YAML limits included), as ``rnnkit train`` loads a config.

        Raises:
            RunError: unreadable, invalid, or not valid for this rnnkit (named as config.yaml).
        """
        try:
            return load_config(self.config)
        except ConfigError as exc:
            raise RunError(f"{self.config}: the run's config is not valid for this rnnkit: {exc}") from None

    def read_status(self) -> dict[str, Any]:
        """status.json validated (:class:`rnnkit.run_files.RunStatus`), as written; ``{}`` when absent
        (a run killed before its first status).

        Raises:
            RunError: unreadable, or a field of the wrong type or value.
        """
        data = read_json_object(self.status, missing_ok=True)
        if data is None:
            return {}
        validate(RunStatus, data, str(self.status))
        return data

    def read_metrics(self) -> dict[str, Any]:
        """metrics.json validated (:class:`rnnkit.run_files.RunMetrics`), as written; ``{}`` when absent.

        Raises:
            RunError: unreadable, or a field of the wrong type.
        """
        data = read_json_object(self.metrics, missing_ok=True)
        if data is None:
            return {}
        validate(RunMetrics, data, str(self.metrics))
        return data

    # -- checkpoints: two-phase commit through the manifest ----------------------------------

    def read_manifest(self) -> dict[str, Any]:
        """The checkpoint manifest validated (:class:`rnnkit.run_files.Manifest`): format, entries,
        sha256 values, and no name outside the run folder; empty when there is none yet.

        Raises:
            RunError: another format, or a malformed or unknown field.
        """
        manifest = read_manifest(self.manifest)
        if manifest is None:
            return {"format": RUN_FORMAT, "checkpoints": {}, "pending": {}}
        return manifest

    def commit_checkpoints(self, save: Callable[[Path], None], names: tuple[str, ...], state: dict[str, Any]) -> None:
        """Write checkpoints ``names`` (e.g. ``("last", "best")``) of one model state, crash-safely.

        Each file is staged as a temp file carrying ``state`` inside the archive, then the
        manifest records the staged hashes as *pending*, the files are renamed into place, and the
        manifest moves them to *checkpoints*. A kill at any moment leaves every final file equal
        to a hash the manifest knows, so it verifies and resumes cleanly.

        Raises:
            ResourceError: disk full or write error; temp files are removed and the previous
                checkpoints and manifest are left intact.
        """
        epoch = int(state.get("epoch", 0))
        staged: dict[str, Path] = {}
        try:
            first = temporary_sibling(self.checkpoint(names[0]))
            save(first)
            with zipfile.ZipFile(first, "a") as archive:
                archive.writestr(STATE_ENTRY, json.dumps(state, default=_json_default))
            staged[names[0]] = first
            for name in names[1:]:
                staged[name] = temporary_sibling(self.checkpoint(name))
                shutil.copyfile(first, staged[name])
            for path in staged.values():
                with open(path, "rb+") as handle:
                    os.fsync(handle.fileno())
            fault_point("checkpoint_staged", epoch)
            manifest = self.read_manifest()
            entries = {
                name: {"file": f"{name}.keras", "sha256": sha256_file(path), "epoch": epoch} for name, path in staged.items()
            }
            manifest["pending"] = entries
            self.write_json(self.manifest, manifest)
            for name, path in staged.items():
                os.replace(path, self.checkpoint(name))
                fault_point(f"checkpoint_replaced_{name}", epoch)
            fsync_dir(self.checkpoints)
            manifest["checkpoints"].update(entries)
            manifest["pending"] = {}
            self.write_json(self.manifest, manifest)
        except OSError as exc:
            reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise ResourceError(f"{self.checkpoints}: cannot write checkpoint: {reason}") from None
        finally:
            for path in staged.values():
                if path.exists():
                    path.unlink()
            for leftover in self.checkpoints.glob(f".*.tmp-{os.getpid()}.keras"):
                leftover.unlink()

    def verified_checkpoint(self, name: str, model: dict[str, dict[str, Any]] | None = None) -> Path:
        """The path of checkpoint ``name`` after checking its sha256 against the manifest.

        Args:
            name: ``"best"`` or ``"last"``.
            model: the model the run's files imply, by file name; when given, the checkpoint's
                model must match it (:func:`rnnkit.run_files.check_model`).

        Raises:
            RunError: missing, unlisted, altered (reported as corrupt), or holding a model that
                does not match the run (one from another run).
        """
        path = self.checkpoint(name)
        manifest = self.read_manifest()
        if path.exists() and file_kind(path) is not None:
            raise RunError(f"{path}: is {file_kind(path)}; expected a checkpoint file (a regular file)")
        if not path.is_file():
            state = self.read_status().get("state", "unknown")
            raise RunError(f"{self.root}: no {name} checkpoint (checkpoints/{name}.keras); the run's status is '{state}'")
        known = [e["sha256"] for e in (manifest["checkpoints"].get(name), manifest["pending"].get(name)) if e]
        if not known:
            if not self.manifest.exists():
                raise RunError(
                    f"{path}: the run folder has no checkpoints/manifest.json (written by an older rnnkit, or incomplete)"
                )
            raise RunError(f"{path}: not listed in {self.manifest.name}; the run folder is incomplete or corrupt")
        if sha256_file(path) not in known:
            raise RunError(f"{path}: checkpoint is corrupt (sha256 differs from {self.manifest.name})")
        if model is not None:
            check_model(path, model)
        return path

    def checkpoint_state(self, name: str, model: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """The training state stored inside a verified checkpoint, validated
        (:class:`rnnkit.run_files.CheckpointState`); ``model`` as for :meth:`verified_checkpoint`.

        Raises:
            RunError: as :meth:`verified_checkpoint`, or a missing or malformed training state.
        """
        path = self.verified_checkpoint(name, model)
        try:
            with zipfile.ZipFile(path) as archive:
                state = read_archive_json(archive, STATE_ENTRY, str(path))
        except (zipfile.BadZipFile, OSError) as exc:
            raise RunError(f"{path}: checkpoint has no readable training state ({exc})") from None
        validate(CheckpointState, state, f"{path}: {STATE_ENTRY}")
        return state

    def write_json(self, path: Path, data: Any) -> None:
        atomic_write(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")

    def write_status(self, state: str, **fields: Any) -> None:
        """Record the run's state (one of STATES) with the time and any extra fields."""
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}")
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        status = {"state": state, "updated": now, "pid": os.getpid(), **fields}
        status.setdefault("started", self._started() or now)
        self.write_json(self.status, status)

    def _started(self) -> str | None:
        # The file is about to be replaced: a damaged one must not stop the write that repairs it
        # (nor hide, on the way out of a failed run, the error that ended it).
        try:
            return self.read_status().get("started")
        except RunError:
            return None

    def update_metrics(self, updates: dict[str, Any]) -> dict[str, Any]:
        """Merge ``updates`` into metrics.json one level deep and write it atomically.

        Raises:
            RunError: the existing metrics.json is damaged (it is left as it is).
        """
        metrics = self.read_metrics()
        for key, value in updates.items():
            if isinstance(value, dict) and isinstance(metrics.get(key), dict):
                metrics[key] = {**metrics[key], **value}
            else:
                metrics[key] = value
        self.write_json(self.metrics, metrics)
        return metrics


def _check_new_folder(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise RunError(f"{root}: --run-dir is an existing file; choose a new folder name")
    if root.is_dir() and any(root.iterdir()):
        raise RunError(
            f"{root}: run folder already exists and is not empty; choose another --run-dir, "
            f"remove it, or continue it with 'rnnkit train --resume {root}'"
        )


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (Path, _dt.date)):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
