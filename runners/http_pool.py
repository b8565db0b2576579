"""HTTP transport of the openai runner: a fleet of replicas, bounded concurrency, retries with backoff.

- Each request goes to the replica with the fewest requests in flight (data parallel). A replica that fails is
  benched for a cool-down that doubles with each consecutive failure (1 s, 2 s, ... up to 60 s; a dead replica
  answers fast, so "least busy" alone would keep choosing it), and a failed request is retried on another replica
  when there is one.
- 429, 408, 5xx, timeouts and connection errors are retried with exponential backoff and full jitter
  (delay = uniform(0, min(max, base * 2^attempt)), at least `Retry-After` when the server sends one); other
  4xx answers are the caller's mistake and fail at once with the server's message.
- `map` runs a function over items in a thread pool and stops at the first error, which it raises as one line.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, TypeVar

import httpx

from jamba_eval import progress
from jamba_eval.errors import UserError

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
RETRY_STATUS = {408, 429}
COOL_DOWN_S = 1.0
MAX_COOL_DOWN_S = 60.0


class RequestFailed(UserError):
    """A request that could not be answered (after retries, or refused by the server)."""

    def __init__(self, message: str, status: int | None = None, body: str = ""):
        super().__init__(" ".join(message.split()))  # always one line
        self.status = status
        self.body = body


class Cancelled(Exception):
    """Another request of the same call failed; this one stops early."""


@dataclasses.dataclass
class RetryPolicy:
    max_retries: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        delay = random.uniform(0.0, min(self.max_backoff_s, self.backoff_s * 2**attempt))
        return max(delay, min(retry_after or 0.0, self.max_backoff_s))


class Replica:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.in_flight = 0
        self.down_until = 0.0
        self.consecutive_failures = 0
        self.served = 0
        self.failed = 0


class ReplicaPool:
    def __init__(
        self,
        base_urls: Sequence[str],
        headers: dict[str, str],
        timeout_s: float,
        num_concurrent: int,
        policy: RetryPolicy,
    ):
        self.replicas = [Replica(url) for url in base_urls]
        self.policy = policy
        self.num_concurrent = num_concurrent
        connections = max(1, num_concurrent)
        self.client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )
        self._lock = threading.Lock()
        self._turn = 0
        self.retries = 0

    def close(self) -> None:
        self.client.close()

    def _acquire(self, avoid: Replica | None) -> Replica:
        with self._lock:
            now = time.monotonic()
            candidates = [r for r in self.replicas if r is not avoid and r.down_until <= now]
            candidates = candidates or [r for r in self.replicas if r is not avoid] or self.replicas
            self._turn += 1
            rotation = {id(r): (i - self._turn) % len(self.replicas) for i, r in enumerate(self.replicas)}
            replica = min(candidates, key=lambda r: (r.in_flight, rotation[id(r)]))  # least busy, then round robin
            replica.in_flight += 1
            return replica

    def _release(self, replica: Replica, ok: bool, served: bool = False) -> None:
        with self._lock:
            replica.in_flight -= 1
            replica.served += served
            if ok:
                replica.consecutive_failures = 0
                replica.down_until = 0.0
                return
            replica.failed += 1
            replica.consecutive_failures += 1
            bench = min(MAX_COOL_DOWN_S, COOL_DOWN_S * 2 ** (replica.consecutive_failures - 1))
            replica.down_until = time.monotonic() + bench

    def post(self, path: str, payload: dict[str, Any], cancel: threading.Event | None = None) -> tuple[Any, int, float]:
        """POST JSON to `path` on some replica: (parsed JSON, retries spent, seconds of the answering attempt)."""
        avoid: Replica | None = None
        last_error = ""
        for attempt in range(self.policy.max_retries + 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            replica = self._acquire(avoid)
            url = replica.base_url + path
            retry_after = None
            started = time.perf_counter()
            try:
                response = self.client.post(url, json=payload)
            except httpx.TransportError as exc:  # refused, reset, dropped, timed out
                last_error = f"{url}: {type(exc).__name__}: {exc or 'no details'}"
            else:
                if response.status_code == 200:
                    try:
                        body = response.json()
                    except ValueError:
                        last_error = f"{url}: HTTP 200 with a body that is not JSON"
                    else:
                        self._release(replica, ok=True, served=True)
                        return body, attempt, time.perf_counter() - started
                elif response.status_code in RETRY_STATUS or response.status_code >= 500:
                    last_error = f"{url}: HTTP {response.status_code}: {_error_message(response)}"
                    retry_after = _retry_after(response)
                else:
                    self._release(replica, ok=True)  # the replica works; the request is at fault
                    raise RequestFailed(
                        f"{url}: HTTP {response.status_code}: {_error_message(response)}",
                        response.status_code,
                        response.text,
                    )
            delay = self.policy.delay(attempt, retry_after)
            self._release(replica, ok=False)
            avoid = replica if len(self.replicas) > 1 else None
            if attempt == self.policy.max_retries:
                break
            with self._lock:
                self.retries += 1
            logger.debug("retrying after %s (attempt %d, waiting %.2fs)", last_error, attempt + 1, delay)
            if (cancel or threading.Event()).wait(delay):
                raise Cancelled
        raise RequestFailed(f"giving up after {self.policy.max_retries + 1} attempts; last error: {last_error}")

    def get(self, path: str) -> Any:
        """GET from the first replica that answers (used for /models)."""
        errors = []
        for replica in self.replicas:
            try:
                response = self.client.get(replica.base_url + path)
                response.raise_for_status()
                return response.json()
            except (httpx.HTTPError, ValueError) as exc:
                errors.append(f"{replica.base_url}{path}: {type(exc).__name__}: {exc}")
        raise RequestFailed("; ".join(errors))

    def map(self, fn: Callable[[T, threading.Event], R], items: Sequence[T], description: str) -> list[R]:
        """`fn(item, cancel)` over items with `num_concurrent` threads; results in order; first error raised."""
        if not items:
            return []
        cancel = threading.Event()
        pool = ThreadPoolExecutor(max_workers=min(self.num_concurrent, len(items)), thread_name_prefix="openai")
        futures = []
        try:
            futures = [pool.submit(fn, item, cancel) for item in items]
            with progress.progress_bar(len(items), description) as bar:
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                    bar.advance(len(done))
                    for future in done:
                        if future.exception() is not None and not isinstance(future.exception(), Cancelled):
                            cancel.set()
                            raise future.exception()  # type: ignore[misc]
            return [f.result() for f in futures]
        finally:
            cancel.set()  # after an error, requests still in flight stop at their next retry
            pool.shutdown(wait=False, cancel_futures=True)

    def describe(self) -> list[dict[str, Any]]:
        return [{"base_url": r.base_url, "served": r.served, "failed": r.failed} for r in self.replicas]


def _error_message(response: httpx.Response) -> str:
    """The server's own error message (OpenAI `{"error": {"message"}}`, FastAPI `{"detail"}`), else the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return str(error)[:300]
    return str(body)[:300]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
