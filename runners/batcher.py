"""One worker thread owns the runner; concurrent HTTP requests are gathered into whole-batch runner calls.

Handlers `await worker.submit(kind, item)`. The worker takes the oldest job and every queued job of the same kind
(up to `max_batch_size`), makes one runner call for them, and resolves their futures on the event loop. Requests
that arrive while a batch runs form the next batch, so no latency is added to wait for company. If a batch fails,
its jobs are retried one by one so that one bad request cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class _Job:
    kind: str
    item: Any
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class BatchWorker:
    def __init__(self, handlers: dict[str, Callable[[Sequence[Any]], list[Any]]], max_batch_size: int):
        self.handlers = handlers
        self.max_batch_size = max(1, max_batch_size)
        self._jobs: collections.deque[_Job] = collections.deque()
        self._ready = threading.Condition()
        self._stopping = False
        self.stats = {"requests": 0, "batches": 0, "largest_batch": 0, "failed_batches": 0}
        self._thread = threading.Thread(target=self._run, name="runner-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        self._thread.join(timeout_s)

    @property
    def queued(self) -> int:
        return len(self._jobs)

    def submit(self, kind: str, item: Any) -> asyncio.Future:
        """Queue one item for the runner; the returned future resolves to its result (or exception)."""
        loop = asyncio.get_running_loop()
        job = _Job(kind, item, loop.create_future(), loop)
        with self._ready:
            self._jobs.append(job)
            self._ready.notify()
        return job.future

    def _take_batch(self) -> list[_Job] | None:
        with self._ready:
            while not self._jobs and not self._stopping:
                self._ready.wait()
            if self._stopping:
                return None
            first = self._jobs.popleft()
            batch, rest = [first], collections.deque()
            while self._jobs:
                job = self._jobs.popleft()
                (batch if job.kind == first.kind and len(batch) < self.max_batch_size else rest).append(job)
            self._jobs = rest
            return batch

    def _run(self) -> None:
        while (batch := self._take_batch()) is not None:
            self.stats["batches"] += 1
            self.stats["requests"] += len(batch)
            self.stats["largest_batch"] = max(self.stats["largest_batch"], len(batch))
            try:
                self._resolve(batch, self.handlers[batch[0].kind]([job.item for job in batch]))
            except Exception as exc:
                self.stats["failed_batches"] += 1
                if len(batch) == 1:
                    logger.warning("runner call failed: %s: %s", type(exc).__name__, exc)
                    self._fail(batch[0], exc)
                    continue
                for job in batch:  # isolate the culprit
                    try:
                        self._resolve([job], self.handlers[job.kind]([job.item]))
                    except Exception as single:
                        logger.warning("runner call failed: %s: %s", type(single).__name__, single)
                        self._fail(job, single)
        for job in self._jobs:  # stopping: nobody will answer these
            self._fail(job, RuntimeError("server is shutting down"))

    @staticmethod
    def _resolve(batch: list[_Job], results: list[Any]) -> None:
        if len(results) != len(batch):
            raise RuntimeError(f"runner returned {len(results)} results for {len(batch)} requests")
        for job, result in zip(batch, results, strict=True):
            job.loop.call_soon_threadsafe(_set, job.future, result, None)

    @staticmethod
    def _fail(job: _Job, exc: BaseException) -> None:
        job.loop.call_soon_threadsafe(_set, job.future, None, exc)


def _set(future: asyncio.Future, result: Any, exc: BaseException | None) -> None:
    if future.done():  # the client went away and its handler was cancelled
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
