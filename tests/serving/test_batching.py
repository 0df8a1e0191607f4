"""Dynamic batching: merging, splitting, padding, limits and isolation of failures."""

import threading

import grpc
import numpy as np
import pytest

from zoo.serving.batching import Batcher, BatchingOptions
from zoo.serving.errors import ServingError


class Recorder:
    """A fake model: doubles its input and records the batch sizes it was called with."""

    def __init__(self, fail_on=None, delay=None):
        self.sizes = []
        self.threads = []
        self.fail_on = fail_on
        self.gate = delay

    def __call__(self, inputs):
        if self.gate is not None:
            self.gate.wait(5)
        x = inputs["x"]
        self.sizes.append(x.shape[0])
        self.threads.append(threading.current_thread().name)
        if self.fail_on is not None and (x == self.fail_on).any():
            raise ValueError("poisoned row")
        return {"y": x * 2, "n": np.full(x.shape[0], x.shape[0])}


def concurrent_submit(batcher, arrays):
    results, errors_ = [None] * len(arrays), [None] * len(arrays)

    def call(i):
        try:
            results[i] = batcher.submit({"x": arrays[i]})
        except ServingError as err:
            errors_[i] = err

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(arrays))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results, errors_


def test_concurrent_requests_merge_and_split_back():
    gate = threading.Event()
    model = Recorder(delay=gate)
    batcher = Batcher(model, BatchingOptions(max_batch_size=64, batch_timeout_micros=200_000, num_batch_threads=1))
    arrays = [np.full((1, 3), i, dtype=np.float32) for i in range(16)]
    threading.Timer(0.3, gate.set).start()
    results, errs = concurrent_submit(batcher, arrays)
    batcher.close()
    assert errs == [None] * 16
    for i, out in enumerate(results):
        np.testing.assert_array_equal(out["y"], arrays[i] * 2)  # each caller gets its own rows back
    assert max(model.sizes) > 1, f"requests were never merged: {model.sizes}"
    assert sum(model.sizes) == 16


def test_padding_to_allowed_batch_sizes_is_invisible_to_callers():
    model = Recorder()
    batcher = Batcher(model, BatchingOptions(max_batch_size=8, allowed_batch_sizes=(4, 8), num_batch_threads=1))
    out = batcher.submit({"x": np.ones((3, 2), np.float32)})
    batcher.close()
    assert model.sizes == [4]
    assert out["y"].shape == (3, 2)


def test_request_over_max_batch_size_is_invalid_argument():
    batcher = Batcher(Recorder(), BatchingOptions(max_batch_size=4, num_batch_threads=1))
    with pytest.raises(ServingError) as err:
        batcher.submit({"x": np.ones((5, 2), np.float32)})
    batcher.close()
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "larger than maximum" in err.value.message


def test_full_queue_answers_unavailable():
    gate = threading.Event()
    batcher = Batcher(
        Recorder(delay=gate), BatchingOptions(max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1)
    )
    results, errs = concurrent_submit_async(batcher, 6)
    gate.set()
    for t in results:
        t.join(10)
    batcher.close()
    codes = [e.code for e in errs if e is not None]
    assert grpc.StatusCode.UNAVAILABLE in codes


def concurrent_submit_async(batcher, n):
    errs = [None] * n

    def call(i):
        try:
            batcher.submit({"x": np.ones((1, 1), np.float32)})
        except ServingError as err:
            errs[i] = err

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    import time

    time.sleep(0.3)
    return threads, errs


def test_a_failing_request_does_not_fail_the_requests_merged_with_it():
    gate = threading.Event()
    batcher = Batcher(
        Recorder(fail_on=-1, delay=gate),
        BatchingOptions(max_batch_size=16, batch_timeout_micros=200_000, num_batch_threads=1),
    )
    arrays = [np.full((1, 2), -1.0 if i == 3 else i, dtype=np.float32) for i in range(8)]
    threading.Timer(0.3, gate.set).start()
    results, errs = concurrent_submit(batcher, arrays)
    batcher.close()
    assert errs[3] is not None and errs[3].code == grpc.StatusCode.INVALID_ARGUMENT
    assert all(errs[i] is None for i in range(8) if i != 3)
    np.testing.assert_array_equal(results[5]["y"], arrays[5] * 2)


def test_requests_with_different_shapes_are_not_merged():
    gate = threading.Event()
    model = Recorder(delay=gate)
    batcher = Batcher(model, BatchingOptions(max_batch_size=16, batch_timeout_micros=200_000, num_batch_threads=1))
    arrays = [np.ones((1, 2 + i % 2), np.float32) for i in range(6)]
    threading.Timer(0.3, gate.set).start()
    results, errs = concurrent_submit(batcher, arrays)
    batcher.close()
    assert errs == [None] * 6
    assert [r["y"].shape for r in results] == [a.shape for a in arrays]


@pytest.mark.parametrize(
    "options",
    [
        dict(max_batch_size=0),
        dict(num_batch_threads=0),
        dict(batch_timeout_micros=-1),
        dict(max_batch_size=8, allowed_batch_sizes=(4, 6)),
        dict(max_batch_size=8, allowed_batch_sizes=(8, 4)),
    ],
)
def test_invalid_options_are_rejected(options):
    with pytest.raises(ValueError):
        BatchingOptions(**options)


def test_options_from_batching_parameters_text_proto(tmp_path):
    from zoo.serving.config_files import read_batching_parameters

    path = tmp_path / "batching.config"
    path.write_text(
        "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 500 }\n"
        "allowed_batch_sizes: 8\nallowed_batch_sizes: 32\n"
    )
    options = BatchingOptions.from_proto(read_batching_parameters(path))
    assert (options.max_batch_size, options.batch_timeout_micros, options.allowed_batch_sizes) == (32, 500, (8, 32))
    assert options.max_enqueued_batches == 10  # TF Serving's default kept
    path.write_text("max_batch_size: 32\n")  # not the wrapper form
    with pytest.raises(ValueError, match="BatchingParameters"):
        read_batching_parameters(path)


def test_a_full_batch_runs_without_waiting_out_the_timeout():
    model = Recorder()
    # A minute's timeout: only a batch that is full (max_batch_size reached) may run before it.
    batcher = Batcher(model, BatchingOptions(max_batch_size=4, batch_timeout_micros=60_000_000, num_batch_threads=1))
    arrays = [np.full((1, 3), i, dtype=np.float32) for i in range(4)]
    results, errs = concurrent_submit(batcher, arrays)  # gives up after 10 s per thread
    assert errs == [None] * 4
    assert all(r is not None for r in results), "a full batch waited for its timeout"
    for i, out in enumerate(results):
        np.testing.assert_array_equal(out["y"], arrays[i] * 2)
    assert model.sizes == [4]
    batcher.close()


def gather_async(batcher, arrays, executor=None):
    """Submits every array from coroutines of one event loop at once; returns results or errors in order."""
    import asyncio

    async def main():
        calls = [batcher.submit_async({"x": x}, executor) for x in arrays]
        return await asyncio.gather(*calls, return_exceptions=True)

    return asyncio.run(main())


def test_coroutine_requests_merge_split_back_and_wake_with_one_callback_per_batch():
    """The gRPC front end's path: asyncio waiters hold no thread and get their own rows back."""
    import asyncio

    model = Recorder()
    batcher = Batcher(model, BatchingOptions(max_batch_size=64, batch_timeout_micros=200_000, num_batch_threads=1))
    arrays = [np.full((1, 3), i, dtype=np.float32) for i in range(16)]
    handed_back = []
    original = asyncio.BaseEventLoop.call_soon_threadsafe

    def counting(loop, callback, *args, **kwargs):
        handed_back.append(len(args[0]) if args and isinstance(args[0], list) else None)
        return original(loop, callback, *args, **kwargs)

    asyncio.BaseEventLoop.call_soon_threadsafe = counting
    try:
        results = gather_async(batcher, arrays)
    finally:
        asyncio.BaseEventLoop.call_soon_threadsafe = original
        batcher.close()
    for i, out in enumerate(results):
        np.testing.assert_array_equal(out["y"], arrays[i] * 2)
    assert model.sizes == [16], model.sizes  # all 16 were queued before the timeout: one batch
    assert handed_back == [16], handed_back  # and one loop callback resolved all 16


def test_a_failing_coroutine_request_fails_alone():
    model = Recorder(fail_on=7.0)
    batcher = Batcher(model, BatchingOptions(max_batch_size=64, batch_timeout_micros=100_000, num_batch_threads=1))
    arrays = [np.full((1, 2), i, dtype=np.float32) for i in range(10)]
    results = gather_async(batcher, arrays)
    batcher.close()
    assert isinstance(results[7], ServingError) and "poisoned row" in results[7].message
    for i, out in enumerate(results):
        if i != 7:
            np.testing.assert_array_equal(out["y"], arrays[i] * 2)


def test_coroutine_requests_after_close_and_empty_ones_run_alone():
    model = Recorder()
    batcher = Batcher(model, BatchingOptions(max_batch_size=8, num_batch_threads=1))
    empty = gather_async(batcher, [np.zeros((0, 2), np.float32)])[0]
    batcher.close()
    late = gather_async(batcher, [np.ones((2, 2), np.float32)])[0]
    assert empty["y"].shape == (0, 2) and late["y"].shape == (2, 2)
    assert model.sizes == [0, 2]
    over = gather_async(batcher, [np.ones((9, 2), np.float32)])[0]
    assert isinstance(over, ServingError) and over.code == grpc.StatusCode.INVALID_ARGUMENT


def test_coroutine_requests_that_run_alone_run_on_the_handler_pool():
    """An empty request (and any after close) is not batched: it runs on the server's handler threads."""
    import concurrent.futures

    model = Recorder()
    batcher = Batcher(model, BatchingOptions(max_batch_size=8, num_batch_threads=1))
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="grpc-handler") as pool:
        gather_async(batcher, [np.zeros((0, 2), np.float32)], pool)
        batcher.close()
        gather_async(batcher, [np.ones((2, 2), np.float32)], pool)
    assert model.sizes == [0, 2]
    assert all(name.startswith("grpc-handler") for name in model.threads), model.threads
