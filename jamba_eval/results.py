"""The results store: one run = one directory.

    run_dir/
      config.json     resolved config + provenance of every session that wrote to the run (atomic writes)
      samples.jsonl   one JSON object per finished sample, keyed by a stable "id", appended and flushed per line
      summary.json    aggregated scores (atomic: temp file + rename)

A restarted run reopens the directory, reads the ids already done and skips them. A process killed mid-write
leaves at most one torn last line; it is detected, reported and cut off, never a crash. Reports read only these
directories.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jamba_eval.errors import UserError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
SAMPLES_FILE = "samples.jsonl"
LOCK_FILE = ".lock"


class ResultsError(UserError):
    """A run directory is unusable as it stands (corrupt file, config mismatch, in use by another process)."""


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False, default=_json_default)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None


class SampleLog:
    """Append-only JSONL of records keyed by `key`; each line is flushed and fsynced as it is written."""

    def __init__(self, path: str | Path, key: str = "id", fsync: bool = True, readonly: bool = False):
        self.path = Path(path)
        self.key = key
        self.fsync = fsync
        self.readonly = readonly
        self._ids: set[str] = set()
        self._file = None
        self.dropped_torn_line = False
        self._recover()

    def _recover(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good_end = 0
        lines = data.split(b"\n")
        for number, raw in enumerate(lines, start=1):
            is_last_segment = number == len(lines)
            end = good_end + len(raw) + (0 if is_last_segment else 1)
            if not raw.strip():
                good_end = end
                continue
            try:
                record = json.loads(raw)
                if is_last_segment:  # no trailing newline: the write was cut before it finished
                    raise ValueError("no newline")
            except ValueError:
                if is_last_segment or all(not rest.strip() for rest in lines[number:]):
                    if not self.readonly:
                        log.warning(
                            "%s: dropping a torn last line (%d bytes) left by an interrupted write", self.path, len(raw)
                        )
                        with open(self.path, "r+b") as f:
                            f.truncate(good_end)
                    self.dropped_torn_line = True
                    return
                raise ResultsError(
                    f"{self.path} line {number} is not valid JSON; the file is damaged beyond a "
                    f"torn last line, fix or remove that line to resume"
                ) from None
            if not isinstance(record, dict) or self.key not in record:
                raise ResultsError(f"{self.path} line {number} has no {self.key!r} field")
            self._ids.add(str(record[self.key]))
            good_end = end

    @property
    def done_ids(self) -> frozenset[str]:
        return frozenset(self._ids)

    def __contains__(self, sample_id: object) -> bool:
        return str(sample_id) in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def append(self, record: Mapping[str, Any]) -> None:
        if self.readonly:
            raise ResultsError(f"{self.path} was opened read-only")
        if self.key not in record:
            raise ValueError(f"record has no {self.key!r} field")
        sample_id = str(record[self.key])
        if sample_id in self._ids:
            raise ValueError(f"sample {sample_id!r} is already in {self.path}")
        line = json.dumps(record, ensure_ascii=False, default=_json_default) + "\n"
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across appends
        self._file.write(line)
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self._ids.add(sample_id)

    def records(self) -> Iterator[dict[str, Any]]:
        """All complete records in file order."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                if line.strip() and line.endswith("\n"):
                    yield json.loads(line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: data}


class RunDir:
    """A run directory opened for writing (locked against a second writer) or loaded read-only for reports."""

    def __init__(self, path: str | Path, *, writable: bool = False):
        self.path = Path(path)
        self.writable = writable
        self._logs: dict[str, SampleLog] = {}
        self._lock_file = None
        self.resumed = False

    # ---- opening
    @classmethod
    def open(
        cls,
        path: str | Path,
        kind: str,
        config: Mapping[str, Any],
        provenance: Mapping[str, Any] | None = None,
        *,
        resume: bool = True,
        volatile: tuple[str, ...] = (),
    ) -> RunDir:
        """Create a run directory, or reopen it to resume.

        Resuming requires the stored config to match `config` except for `volatile` keys (dotted paths such as
        "batch_size" that do not change results); otherwise the results would mix two experiments.
        """
        run = cls(path, writable=True)
        run.path.mkdir(parents=True, exist_ok=True)
        run._acquire_lock()
        try:
            config_path = run.path / CONFIG_FILE
            session = {"started_utc": utc_now(), "command": list(sys.argv), "provenance": dict(provenance or {})}
            if config_path.exists():
                stored = read_json(config_path)
                if not resume:
                    raise ResultsError(
                        f"{run.path} already holds a run; resume it (the default) or choose a new --output-dir"
                    )
                if stored.get("kind") != kind:
                    raise ResultsError(f"{run.path} holds a {stored.get('kind')!r} run, not {kind!r}")
                old, new = _flatten(stored.get("config", {})), _flatten(dict(config))
                differ = sorted(
                    k
                    for k in set(old) | set(new)
                    if old.get(k) != new.get(k) and not any(k == v or k.startswith(v + ".") for v in volatile)
                )
                if differ:
                    details = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in differ[:5])
                    raise ResultsError(
                        f"{run.path} was started with a different config ({details}); use a new "
                        f"--output-dir to run this one"
                    )
                stored["config"] = dict(config)  # volatile keys take their new values
                stored.setdefault("sessions", []).append(session)
                stored["status"] = "running"
                run.resumed = True
            else:
                stored = {
                    "schema_version": SCHEMA_VERSION,
                    "run_id": uuid.uuid4().hex[:12],
                    "kind": kind,
                    "status": "running",
                    "created_utc": utc_now(),
                    "config": dict(config),
                    "sessions": [session],
                }
            write_json_atomic(config_path, stored)
            return run
        except BaseException:
            run.close()
            raise

    @classmethod
    def load(cls, path: str | Path) -> RunDir:
        """Open an existing run read-only (reports); never takes the lock or changes a file."""
        run = cls(path, writable=False)
        if not (run.path / CONFIG_FILE).exists():
            raise ResultsError(f"{run.path} is not a run directory (no {CONFIG_FILE})")
        return run

    def _acquire_lock(self) -> None:
        self._lock_file = open(self.path / LOCK_FILE, "w")  # noqa: SIM115 - held for the run's lifetime
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise ResultsError(f"{self.path} is in use by another jamba-eval process") from None

    # ---- contents
    @property
    def config_record(self) -> dict[str, Any]:
        return read_json(self.path / CONFIG_FILE)

    @property
    def config(self) -> dict[str, Any]:
        return self.config_record.get("config", {})

    @property
    def kind(self) -> str:
        return self.config_record.get("kind", "")

    def samples(self, name: str = "samples", key: str = "id") -> SampleLog:
        """The named JSONL log (`samples` -> samples.jsonl); read-only runs only read it."""
        if name not in self._logs:
            path = self.path / f"{name}.jsonl"
            self._logs[name] = SampleLog(path, key=key, readonly=not self.writable)
        return self._logs[name]

    def done_ids(self, name: str = "samples") -> frozenset[str]:
        return self.samples(name).done_ids

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        self._require_writable()
        write_json_atomic(
            self.path / SUMMARY_FILE, {"schema_version": SCHEMA_VERSION, "updated_utc": utc_now(), **dict(summary)}
        )

    def read_summary(self) -> dict[str, Any] | None:
        path = self.path / SUMMARY_FILE
        return read_json(path) if path.exists() else None

    def set_status(self, status: str, **extra: Any) -> None:
        """Record `running` / `complete` / `failed` / `interrupted` in config.json."""
        self._require_writable()
        stored = self.config_record
        stored["status"] = status
        stored.update(extra)
        stored.setdefault("sessions", [{}])[-1]["ended_utc"] = utc_now()
        write_json_atomic(self.path / CONFIG_FILE, stored)

    def _require_writable(self) -> None:
        if not self.writable:
            raise ResultsError(f"{self.path} was opened read-only")

    # ---- lifetime
    def close(self) -> None:
        for log_ in self._logs.values():
            log_.close()
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.writable and exc_type is not None:
            status = "interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed"
            with contextlib.suppress(Exception):
                self.set_status(status, error=f"{exc_type.__name__}: {exc}")
        self.close()


def find_run_dirs(paths: list[str | Path]) -> list[Path]:
    """Run directories at or below each path (a directory holding config.json), sorted."""
    found: set[Path] = set()
    for path in map(Path, paths):
        if (path / CONFIG_FILE).exists():
            found.add(path)
        elif path.is_dir():
            found.update(p.parent for p in path.rglob(CONFIG_FILE))
    return sorted(found)
