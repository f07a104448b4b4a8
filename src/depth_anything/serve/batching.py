"""Dynamic batching: requests that arrive close together and share a network input shape run as one batch.

A request first takes a place (`admit`): at most `max_queue` requests wait for the model at a time
(being read and decoded, or queued), and one more is refused with `QueueFull`, which carries a
Retry-After estimate, so a burst costs 503 answers instead of memory. An admitted request is then
queued under its key (model, input size, network shape). One worker thread takes the group whose
oldest request has waited longest, as soon as that group holds `max_batch` requests or its oldest
request has waited `max_wait_s`, and runs it. While a batch runs, new requests gather, so under load
batches fill by themselves and the wait is paid only when the server is idle.

A request that gives up (its timeout) is withdrawn from the queue, or skipped if the worker took it
already. The worker runs on one thread because the runtimes use every core for one batch; the event
loop only waits on futures, so it stays free to read uploads and send answers.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .metrics import Metrics

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The queue holds `max_queue` requests already; try again after `retry_after_s` seconds."""

    def __init__(self, waiting: int, retry_after_s: int) -> None:
        super().__init__(f"{waiting} requests are waiting for the model already; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class QueueStopped(Exception):
    """The server is shutting down and takes no new requests."""


@dataclass(eq=False)
class Ticket:
    """An admitted request's place; `submit` turns it into a queued item."""

    admitted: float = field(default_factory=time.monotonic)
    key: Hashable = None
    payload: Any = None
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    queued: bool = False
    done: bool = False


class BatchQueue:
    """Groups submitted payloads by key and hands up to `max_batch` of one key to `run_batch(key, payloads)`
    on a worker thread; `run_batch` returns one result per payload, in order (an exception fails them all)."""

    def __init__(
        self, run_batch: Callable[[Hashable, list[Any]], Sequence[Any]], max_batch: int = 8, max_wait_s: float = 0.005,
        max_queue: int = 64, metrics: Metrics | None = None,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError(f"max_batch ({max_batch}) and max_queue ({max_queue}) must be ≥ 1, max_wait_s "
                             f"({max_wait_s}) ≥ 0")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.metrics = metrics
        self._cond = threading.Condition()
        self._groups: dict[Hashable, deque[Ticket]] = {}
        self._waiting = 0  # admitted and not yet taken into a batch
        self._stopping = False
        self._batch_seconds = 0.0  # running mean of recent batches, for Retry-After
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------ requests
    @property
    def waiting(self) -> int:
        """Requests admitted and not yet taken into a batch."""
        return self._waiting

    def retry_after(self) -> int:
        """Seconds after which a refused request may find room: the batches ahead of it, at least 1."""
        batches = math.ceil(max(self._waiting, 1) / self.max_batch)
        return max(1, math.ceil(batches * self._batch_seconds))

    def admit(self) -> Ticket:
        """A place for one request, or `QueueFull` when `max_queue` are waiting (`QueueStopped` while stopping)."""
        with self._cond:
            if self._stopping:
                raise QueueStopped("the server is shutting down")
            if self._waiting >= self.max_queue:
                raise QueueFull(self._waiting, self.retry_after())
            self._waiting += 1
            self._gauge()
            return Ticket()

    def submit(self, ticket: Ticket, key: Hashable, payload: Any) -> concurrent.futures.Future:
        """Queue an admitted request's payload under `key`; its future gets the result."""
        with self._cond:
            if ticket.done or ticket.queued:
                raise RuntimeError("a ticket is submitted once, before it is released")
            ticket.key, ticket.payload, ticket.queued = key, payload, True  # it keeps its admission time
            self._groups.setdefault(key, deque()).append(ticket)
            self._cond.notify_all()
        return ticket.future

    def release(self, ticket: Ticket) -> None:
        """Give up a place: a request that failed before `submit`, or timed out while queued (then it is
        withdrawn; once its batch runs, the result is dropped)."""
        with self._cond:
            if ticket.done:
                return
            if ticket.queued:
                group = self._groups.get(ticket.key)
                if group is None or ticket not in group:
                    ticket.future.cancel()
                    return  # taken into a batch already
                group.remove(ticket)
                if not group:
                    del self._groups[ticket.key]
            ticket.done = True
            ticket.future.cancel()
            self._waiting -= 1
            self._gauge()
            self._cond.notify_all()

    # ------------------------------------------------------------------------------------ worker
    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="depth-anything-batches", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Refuse new requests, run the queued ones without waiting for company, then end the worker."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _next_batch(self) -> tuple[Hashable, list[Ticket]] | None:
        with self._cond:
            while True:
                if not self._groups:
                    if self._stopping:
                        return None
                    self._cond.wait()
                    continue
                key, group = min(self._groups.items(), key=lambda item: item[1][0].admitted)
                wait = group[0].admitted + self.max_wait_s - time.monotonic()
                if len(group) >= self.max_batch or wait <= 0 or self._stopping:
                    taken = [group.popleft() for _ in range(min(self.max_batch, len(group)))]
                    if not group:
                        del self._groups[key]
                    for ticket in taken:
                        ticket.done = True
                    self._waiting -= len(taken)
                    self._gauge()
                    return key, taken
                self._cond.wait(wait)

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            key, taken = batch
            live = [t for t in taken if t.future.set_running_or_notify_cancel()]
            if not live:
                continue
            start = time.perf_counter()
            try:
                results = list(self.run_batch(key, [t.payload for t in live]))
                if len(results) != len(live):
                    raise RuntimeError(f"run_batch gave {len(results)} results for {len(live)} inputs")
            except BaseException as exc:  # every request of the batch learns why; the worker goes on
                log.exception("a batch of %d failed", len(live))
                for ticket in live:
                    ticket.future.set_exception(exc)
            else:
                for ticket, result in zip(live, results, strict=True):
                    ticket.future.set_result(result)
            finally:
                for ticket in live:
                    ticket.payload = None
            elapsed = time.perf_counter() - start
            self._batch_seconds = elapsed if self._batch_seconds == 0 else 0.8 * self._batch_seconds + 0.2 * elapsed
            if self.metrics is not None:
                self.metrics.observe("batch_size", len(live))
                self.metrics.observe("batch_seconds", elapsed)

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.set("queue_depth", self._waiting)


__all__ = ["BatchQueue", "QueueFull", "QueueStopped", "Ticket"]
