"""Dynamic batching: concurrent requests merged into one model call and split back.

Semantics follow TF Serving's batching session: a batch closes when it reaches
``max_batch_size`` or its oldest request has waited ``batch_timeout_micros``; it
is padded up to the next of ``allowed_batch_sizes``; a full queue answers
UNAVAILABLE. Requests whose non-batch shapes differ are never merged. If a
merged call fails, each request is retried alone, so one bad request cannot
fail the others.

Waiters are threads (``submit``, the REST front end) or asyncio tasks (``submit_async``,
the gRPC front end): a merged batch wakes all of its asyncio waiters with one callback
on their event loop, so a request costs no thread hand-off of its own.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping

import numpy as np

from zoo.serving import errors

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's ``BatchingParameters``, with its defaults.

    Attributes:
        max_batch_size: largest merged batch; a single request may not exceed it.
        batch_timeout_micros: how long the oldest request waits for company.
        max_enqueued_batches: queue capacity, in batches.
        num_batch_threads: threads running merged batches.
        allowed_batch_sizes: sizes batches are padded up to (increasing, last = max_batch_size).
    """

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: tuple[int, ...] = ()

    def __post_init__(self):
        for field in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, field) < 1:
                raise ValueError(f"Batching parameter {field} must be >= 1. Received: {getattr(self, field)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"batch_timeout_micros must be >= 0. Received: {self.batch_timeout_micros}")
        sizes = list(self.allowed_batch_sizes)
        if sizes and (sizes != sorted(set(sizes)) or sizes[0] < 1 or sizes[-1] != self.max_batch_size):
            raise ValueError(
                f"allowed_batch_sizes must increase and end at max_batch_size ({self.max_batch_size}). Received: {sizes}"
            )

    @classmethod
    def from_proto(cls, params) -> BatchingOptions:
        """From a ``BatchingParameters`` message; unset fields keep TF Serving's defaults."""
        values = {}
        for field in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"):
            if params.HasField(field):
                values[field] = getattr(params, field).value
        if params.allowed_batch_sizes:
            values["allowed_batch_sizes"] = tuple(params.allowed_batch_sizes)
        return cls(**values)


class _Task:
    __slots__ = ("inputs", "size", "key", "done", "future", "outputs", "error", "enqueued")

    def __init__(self, inputs: Mapping[str, np.ndarray], future: asyncio.Future | None = None):
        self.inputs = dict(inputs)
        self.size = next(iter(self.inputs.values())).shape[0]
        # Requests merge only when every input agrees on dtype and non-batch shape.
        self.key = tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in self.inputs.items()))
        self.done = threading.Event()  # set once outputs or error is; then a thread waiter wakes
        self.future = future  # an asyncio waiter's, resolved on its loop
        self.outputs = None
        self.error = None
        self.enqueued = time.monotonic()


def _resolve(tasks: list[_Task]) -> None:
    """On the waiters' event loop: hands each finished task's outputs or error to its future."""
    for task in tasks:
        if task.future.done():  # the call was cancelled meanwhile
            continue
        if task.error is not None:
            task.future.set_exception(task.error)
        else:
            task.future.set_result(task.outputs)


class Batcher:
    """Merges concurrent calls of one signature.

    Args:
        run: the unbatched call, inputs -> outputs, every tensor with a leading batch dimension.
        options: batching parameters.
        on_batch: called with (real size, padded size) after every merged call (metrics).
    """

    def __init__(
        self,
        run: Callable[[dict], dict],
        options: BatchingOptions,
        on_batch: Callable[[int, int], None] | None = None,
        name: str = "batcher",
    ):
        self._run, self.options, self._on_batch = run, options, on_batch
        self._queue: collections.deque[_Task] = collections.deque()
        self._queued_size = 0
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._worker, name=f"{name}-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Queues one request and blocks until its slice of a merged batch is ready.

        Raises:
            ServingError: INVALID_ARGUMENT for a request over ``max_batch_size``;
                UNAVAILABLE when the queue is full. After ``close()`` requests run unbatched.
        """
        task = _Task(inputs)
        if not self._enqueue(task):
            return self._run(task.inputs)
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    async def submit_async(self, inputs: Mapping[str, np.ndarray], executor=None) -> dict[str, np.ndarray]:
        """``submit`` for a coroutine: awaits the slice without holding a thread.

        A request that runs unbatched (empty, or after ``close()``) runs on ``executor``'s threads (the
        server's handler pool; None: the loop's default executor).
        """
        loop = asyncio.get_running_loop()
        task = _Task(inputs, loop.create_future())
        if not self._enqueue(task):
            return await loop.run_in_executor(executor, self._run, task.inputs)
        return await task.future

    def _enqueue(self, task: _Task) -> bool:
        """Queues ``task``; False when it must run alone (it is empty, or the batcher is closed)."""
        limit = self.options.max_batch_size
        if task.size > limit:
            raise errors.invalid_argument(f"Task size {task.size} is larger than maximum input batch size {limit}")
        if task.size == 0:
            return False
        with self._cond:
            if self._closed:  # the version is being unloaded: a request that already holds it still gets an answer
                return False
            if self._queued_size + task.size > self.options.max_enqueued_batches * limit:
                raise errors.unavailable("The batch scheduling queue to which this task was submitted is full")
            # Wake a batch thread only when it has something new to decide: the queue was empty
            # (a thread waits for work) or a batch is full. Waking the thread that waits out the
            # timeout on every arrival costs a GIL round trip per request and decides nothing.
            wake = not self._queue or self._queued_size < limit <= self._queued_size + task.size
            self._queue.append(task)
            self._queued_size += task.size
            if wake:
                self._cond.notify()
        return True

    def close(self) -> None:
        """Finishes queued work, then stops the threads."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=30)

    # --- worker side -------------------------------------------------------
    def _next_batch(self) -> list[_Task] | None:
        timeout = self.options.batch_timeout_micros / 1e6
        limit = self.options.max_batch_size
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            deadline = self._queue[0].enqueued + timeout
            while not self._closed and self._queued_size < limit and time.monotonic() < deadline:
                self._cond.wait(max(deadline - time.monotonic(), 0))
                if not self._queue:  # another thread took them
                    return []
            first = self._queue[0]
            batch, total, kept = [], 0, collections.deque()
            while self._queue:
                task = self._queue.popleft()
                if task.key == first.key and total + task.size <= limit:
                    batch.append(task)
                    total += task.size
                else:
                    kept.append(task)
            self._queue.extendleft(reversed(kept))
            self._queued_size -= total
            if self._queue:  # requests left over (another shape, or beyond this batch): another thread takes them
                self._cond.notify()
            return batch

    def _worker(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                try:
                    self._process(batch)
                finally:  # whatever happened, nobody waits forever
                    for task in batch:
                        if task.outputs is None and task.error is None:
                            task.error = errors.ServingError(
                                errors.grpc.StatusCode.INTERNAL, "The batch failed without a result."
                            )
                    _wake(batch)

    def _padded_size(self, size: int) -> int:
        return next((s for s in self.options.allowed_batch_sizes if s >= size), size)

    def _process(self, batch: list[_Task]) -> None:
        total = sum(t.size for t in batch)
        padded = self._padded_size(total)
        try:
            if len(batch) == 1 and padded == total:
                merged = batch[0].inputs
            else:
                merged = {
                    key: np.concatenate(
                        [t.inputs[key] for t in batch]
                        + ([np.repeat(batch[0].inputs[key][:1], padded - total, axis=0)] if padded > total else [])
                    )
                    for key in batch[0].inputs
                }
            outputs = self._run(merged)
            bad = [k for k, v in outputs.items() if np.ndim(v) == 0 or v.shape[0] != padded]
            if bad:
                raise errors.ServingError(
                    errors.grpc.StatusCode.INTERNAL,
                    f"Batched outputs {bad} do not have the batch size {padded} as their first dimension.",
                )
            if self._on_batch:
                self._on_batch(total, padded)
            start = 0
            for task in batch:
                task.outputs = {k: v[start : start + task.size] for k, v in outputs.items()}
                start += task.size
        except Exception as err:  # noqa: BLE001 - every waiter must be woken
            if len(batch) > 1:
                for task in batch:  # isolate the bad request: others must not fail with it
                    self._process([task])
                return
            batch[0].error = errors.from_exception(err)


def _wake(batch: list[_Task]) -> None:
    """Wakes the waiters of finished tasks: threads one by one, asyncio tasks with one callback per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Task]] = {}
    for task in batch:
        if task.done.is_set():
            continue
        task.done.set()
        if task.future is not None:
            by_loop.setdefault(task.future.get_loop(), []).append(task)
    for loop, tasks in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, tasks)
        except RuntimeError:  # the loop is closed: the server has stopped, nobody awaits these
            pass
