"""Benchmark ``zoo serve`` with the trained LeNet-5: latency, throughput with dynamic batching, hot reload.

Usage:
    python bench/serving_bench.py [--seconds 10] [--calls 2000] [--warmup 200] [--procs 2] [--quick]

Writes bench/reports/serving.{json,md}; scratch files (exports, batching files,
server logs) go to bench/runs/serving-bench/. One run on one machine: the
server is a separate process (``python -m zoo.cli serve ...``) as in
production, and so are the load generators, so client-side Python shares no
GIL with the server -- but all share the machine's CPUs, which the report
accounts for (CPU per request of server and clients, CPU taken by other
processes, steal time).

Measurements:
  1. Latency of batch-1 Predict, server without batching: ``zoo.serving.client.Client.predict``
     and the raw stub (prebuilt request) over gRPC, vs the same SavedModel called in
     the bench process (and the Keras model, for context); the ways are interleaved in
     rounds so background load hits them alike. Also a second server run with TensorFlow's
     own thread pools (an empty ``--tensorflow_session_config_file``) instead of ``zoo serve``'s
     default 1/1, for comparison.
  2. Throughput of batch-1 Predict with 1, 8 and 64 concurrent closed-loop clients,
     without and with batching (several BatchingParameters screened at 64 clients, the
     best run at 1, 8, 64), mean batch size from the server's Prometheus metrics; plus the
     ceiling of the transport alone: a Python gRPC server (same thread pool) answering a
     canned PredictResponse, under the same load generator.
  3. Hot reload: version 2 is exported next to version 1 while 64 clients send requests
     (``--file_system_poll_wait_seconds 0.5``); failed requests and time to switch; with
     and without batching.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRATCH = HERE / "runs" / "serving-bench"
WEIGHTS = HERE.parent / "zoo" / "pretrained" / "lenet5" / "mnist"  # the lenet5:mnist preset
MODEL = "lenet5"
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
CONCURRENCY = (1, 8, 64)
# (BatchingParameters, TensorFlow intra-op threads or None for zoo serve's default) screened at 64
# clients; the best one is then run at 1, 8 and 64 clients.
BATCHING_SETTINGS = (
    ({"max_batch_size": 64, "batch_timeout_micros": 1000, "num_batch_threads": 2, "max_enqueued_batches": 16}, None),
    ({"max_batch_size": 64, "batch_timeout_micros": 2000, "num_batch_threads": 1, "max_enqueued_batches": 16}, None),
    ({"max_batch_size": 64, "batch_timeout_micros": 0, "num_batch_threads": 1, "max_enqueued_batches": 16}, None),
    # Longer timeouts: bigger batches, less model CPU per request (screened 2026-12-04: 4000 and 8000 us
    # gave 4-6% more than 2000 us at 64 clients; 16000 us less again).
    ({"max_batch_size": 64, "batch_timeout_micros": 4000, "num_batch_threads": 1, "max_enqueued_batches": 16}, None),
    ({"max_batch_size": 64, "batch_timeout_micros": 8000, "num_batch_threads": 1, "max_enqueued_batches": 16}, None),
    (
        {"max_batch_size": 64, "batch_timeout_micros": 2000, "num_batch_threads": 1, "max_enqueued_batches": 16},
        os.cpu_count() or 1,
    ),
)
QUICK = {"seconds": 3.0, "screen_seconds": 2.0, "echo_seconds": 2.0, "calls": 800, "warmup": 100}
BATCH_METRIC = ":tensorflow:serving:batching_session:input_batch_size"
REQUEST_METRIC = ":tensorflow:serving:request_latency"
RUNTIME_METRIC = ":tensorflow:serving:runtime_latency"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- CPU accounting -----------------------------------------------------------------------------------
def shown_command(argv: list[str]) -> str:
    from zoo.training.run_dir import shown_command as shown  # imported late: load processes re-import this file

    return shown(argv)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of a live process; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _children_cpu() -> float:
    """CPU of this process's live (or unreaped) children, read from /proc."""
    me, total = os.getpid(), 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


class CpuWindow:
    """Machine CPU over a window: busy cores (without steal), steal %, and the cores taken by
    processes that are not this bench or its children (servers, load generators)."""

    def __init__(self):
        self._start = self._snapshot()

    @staticmethod
    def _snapshot() -> tuple:
        values = list(map(int, Path("/proc/stat").read_text().splitlines()[0].split()[1:]))
        user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
        t = os.times()
        ours = t.user + t.system + t.children_user + t.children_system + _children_cpu()
        return time.time(), sum(values[:8]), user + nice + system + irq + softirq, steal, ours

    def stop(self) -> dict:
        t0, total0, busy0, steal0, ours0 = self._start
        t1, total1, busy1, steal1, ours1 = self._snapshot()
        wall, ticks = max(t1 - t0, 1e-9), max(total1 - total0, 1)
        ncpu = os.cpu_count() or 1
        busy_cores = (busy1 - busy0) / ticks * ncpu
        ours = (ours1 - ours0) / wall
        return {
            "seconds": round(wall, 2),
            "busy_cores": round(busy_cores, 2),
            "steal_percent": round(100 * (steal1 - steal0) / ticks, 1),
            "bench_cores": round(ours, 2),
            "other_cores": round(max(busy_cores - ours, 0.0), 2),
        }


# --- load generator (child processes: grpc only, no TensorFlow import) -----------------------------
def _load_process(target: str, payloads: list[bytes], threads: int, times, barrier, stop_event, results) -> None:
    """``threads`` closed-loop clients sharing one channel; each sends prebuilt serialized
    PredictRequests from ``times[0]`` until ``times[1]`` (or ``stop_event``), then reports what it saw.

    The window starts only once every load process has connected and warmed up (``barrier``, waited twice:
    all ready, then the parent has written ``times``), so slow process start-up never shortens it."""
    import grpc

    channel = grpc.insecure_channel(target)
    call = channel.unary_unary(PREDICT_METHOD)  # bytes in, bytes out: no (de)serialization cost here
    grpc.channel_ready_future(channel).result(timeout=60)
    lock = threading.Lock()
    warmed, go = threading.Barrier(threads + 1), threading.Event()
    stats = {"ok": 0, "errors": {}, "latencies": []}

    def client(index: int) -> None:
        ok, errors, latencies = 0, {}, []
        i = index * 7919
        for _ in range(3):  # connection and thread warm-up, not counted
            call(payloads[i % len(payloads)], timeout=60)
        warmed.wait()
        go.wait()
        start_at, stop_at = times[0], times[1]
        time.sleep(max(start_at - time.time(), 0))
        while True:
            if time.time() >= stop_at or (stop_event is not None and stop_event.is_set()):
                break
            i += 1
            t = time.perf_counter()
            try:
                call(payloads[i % len(payloads)], timeout=30)
                ok += 1
                latencies.append(time.perf_counter() - t)
            except grpc.RpcError as err:
                name = err.code().name
                errors[name] = errors.get(name, 0) + 1
        with lock:
            stats["ok"] += ok
            for name, n in errors.items():
                stats["errors"][name] = stats["errors"].get(name, 0) + n
            stats["latencies"].extend(latencies[:: max(1, len(latencies) // 2000)])

    workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    warmed.wait()
    barrier.wait()  # every process is ready
    barrier.wait()  # the parent has written the window
    go.set()
    time.sleep(max(times[0] - time.time(), 0))
    cpu0 = time.process_time()
    for w in workers:
        w.join()
    stats["cpu_seconds"] = time.process_time() - cpu0
    channel.close()
    results.put(stats)


def run_load(
    target: str,
    payloads: list[bytes],
    clients: int,
    procs: int,
    seconds: float,
    *,
    stop_event=None,
    server_pid: int | None = None,
    started: threading.Event | None = None,
) -> dict:
    """``clients`` concurrent closed-loop clients spread over ``procs`` processes for ``seconds``
    (or until ``stop_event``), counted from the moment all of them are connected and warmed up
    (``started`` is set then). Returns requests, errors, req/s, client-side latency percentiles and,
    for timed runs, the CPU used per request by the server and by the clients."""
    import numpy as np

    ctx = mp.get_context("spawn")
    procs = max(1, min(procs, clients))
    per = [clients // procs + (1 if k < clients % procs else 0) for k in range(procs)]
    results, barrier, times = ctx.Queue(), ctx.Barrier(procs + 1), ctx.Array("d", 2)
    children = [
        ctx.Process(target=_load_process, args=(target, payloads, n, times, barrier, stop_event, results), daemon=True)
        for n in per
    ]
    for c in children:
        c.start()
    barrier.wait(timeout=300)
    start_at = time.time() + 0.1
    times[0], times[1] = start_at, start_at + seconds if stop_event is None else float("inf")
    barrier.wait(timeout=60)
    time.sleep(max(start_at - time.time(), 0))
    if started is not None:
        started.set()
    window = server0 = None
    if stop_event is None:
        window, server0 = CpuWindow(), process_cpu(server_pid) if server_pid else None
        time.sleep(max(times[1] - time.time(), 0))
        server1, cpu = process_cpu(server_pid) if server_pid else None, window.stop()
    stats = [results.get(timeout=seconds + 120 if stop_event is None else 900) for _ in children]
    for c in children:
        c.join(timeout=10)
    ok = sum(s["ok"] for s in stats)
    errors: dict[str, int] = {}
    for s in stats:
        for name, n in s["errors"].items():
            errors[name] = errors.get(name, 0) + n
    latencies = np.array([x for s in stats for x in s["latencies"]]) * 1e3
    duration = seconds if stop_event is None else time.time() - start_at
    result = {
        "clients": clients,
        "client_processes": procs,
        "seconds": round(duration, 2),
        "requests": ok,
        "failed": sum(errors.values()),
        "errors": errors,
        "requests_per_second": round(ok / duration, 1),
        "latency_ms": _percentiles(latencies) if len(latencies) else None,
    }
    if stop_event is None and ok:
        client_cpu = sum(s["cpu_seconds"] for s in stats)
        result["cpu"] = {
            **cpu,
            "client_cores": round(client_cpu / seconds, 2),
            "client_us_per_request": round(client_cpu / ok * 1e6),
            **(
                {
                    "server_cores": round((server1 - server0) / seconds, 2),
                    "server_us_per_request": round((server1 - server0) / ok * 1e6),
                }
                if server_pid
                else {}
            ),
        }
    return result


# --- transport ceiling: a Python gRPC server with no model ---------------------------------------
def _echo_server(port: int, response: bytes, max_workers: int, ready) -> None:
    """PredictionService/Predict answering a canned response: grpc's sync server, same pool size as
    ``zoo serve``, no parsing and no model."""
    import concurrent.futures

    import grpc

    def predict(request: bytes, context) -> bytes:
        return response

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=max_workers))
    handler = grpc.unary_unary_rpc_method_handler(predict)  # bytes in, bytes out
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("tensorflow.serving.PredictionService", {"Predict": handler})]
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    ready.set()
    server.wait_for_termination()


# --- shared inputs ---------------------------------------------------------------------------------------
def lenet_payloads(folder: str) -> tuple[list[bytes], Path]:
    """256 serialized batch-1 PredictRequests (MNIST test images, /255 float32), and version 1 of the
    lenet5:mnist preset exported afresh under ``SCRATCH/folder`` (the model base path's parent)."""
    import numpy as np
    from tensorflow_serving.apis import predict_pb2

    from zoo import data
    from zoo.serving.exporter import export_weights
    from zoo.serving.tensors import to_tensor_proto

    spec, split = data.load("mnist", "test")
    images = (split.images[:256].astype(np.float32) / 255.0).reshape(-1, *spec.input_shape)
    payloads = []
    for x in images:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs["images"].CopyFrom(to_tensor_proto(x[None]))
        payloads.append(request.SerializeToString())
    base = SCRATCH / folder
    shutil.rmtree(base, ignore_errors=True)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    export_weights(MODEL, WEIGHTS, base, version=1)
    return payloads, base


# --- helpers --------------------------------------------------------------------------------------------
def _percentiles(values_ms) -> dict:
    import numpy as np

    values_ms = np.asarray(values_ms)
    return {
        "p50": round(float(np.percentile(values_ms, 50)), 3),
        "p90": round(float(np.percentile(values_ms, 90)), 3),
        "p99": round(float(np.percentile(values_ms, 99)), 3),
        "mean": round(float(values_ms.mean()), 3),
        "n": int(len(values_ms)),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m zoo.cli serve`` in a subprocess on free ports, loopback only. ``start()`` returns at
    once (several servers load in parallel); ``wait_ready()`` blocks until the model is AVAILABLE."""

    def __init__(self, base: Path, name: str, *flags: str, env: dict | None = None, poll: float = 0.5):
        self.name = name
        self.grpc_port, self.rest_port = free_port(), free_port()
        self.cmd = [
            sys.executable,
            "-m",
            "zoo.cli",
            "serve",
            "--port",
            str(self.grpc_port),
            "--rest_api_port",
            str(self.rest_port),
            "--model_name",
            MODEL,
            "--model_base_path",
            str(base / MODEL),
            "--host",
            "127.0.0.1",
            "--file_system_poll_wait_seconds",
            str(poll),
            *flags,
        ]
        self.env = env or {}
        self.log = SCRATCH / f"server-{name}.log"
        self.target = f"127.0.0.1:{self.grpc_port}"
        self.proc: subprocess.Popen | None = None

    @property
    def command(self) -> str:
        return " ".join([*(f"{k}={v}" for k, v in self.env.items()), shown_command(["python", *self.cmd[1:]])])

    def start(self) -> Server:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"), **self.env)
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        self._started = time.time()
        return self

    def wait_ready(self) -> Server:
        from zoo.serving.client import Client
        from zoo.serving.errors import ServingError

        try:
            with Client(self.target, timeout=60) as client:
                while True:
                    if self.proc.poll() is not None:
                        raise RuntimeError(f"server exited ({self.proc.returncode}); see {self.log}")
                    try:
                        client.wait_until_available(MODEL, timeout=2)
                        break
                    except ServingError:  # not up yet
                        if time.time() - self._started > 180:
                            raise
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = round(time.time() - self._started, 1)
        return self

    def __enter__(self) -> Server:
        if self.proc is None:
            self.start()
        return self.wait_ready()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.rest_port}/monitoring/prometheus/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()


def histogram_totals(text: str, name: str) -> tuple[float, float]:
    """(sum, count) of a Prometheus histogram over all its label sets."""
    total = count = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}_(sum|count)(\{{.*\}})? (\S+)$", line)
        if m:
            if m.group(1) == "sum":
                total += float(m.group(3))
            else:
                count += float(m.group(3))
    return total, count


def histogram_mean(before: str, after: str, name: str) -> float | None:
    (s0, n0), (s1, n1) = histogram_totals(before, name), histogram_totals(after, name)
    return (s1 - s0) / (n1 - n0) if n1 > n0 else None


def _fmt_cpu(r: dict) -> str:
    c = r.get("cpu") or {}
    return (
        f"server {c.get('server_cores', '-')} cores ({c.get('server_us_per_request', '-')} us/req), "
        f"clients {c.get('client_cores')} cores ({c.get('client_us_per_request')} us/req), "
        f"others {c.get('other_cores')} cores, steal {c.get('steal_percent')}%"
    )


def throughput(server: Server, payloads, clients: int, seconds: float, procs: int) -> dict:
    before = server.metrics()
    result = run_load(server.target, payloads, clients, procs, seconds, server_pid=server.proc.pid)
    mean = histogram_mean(before, server.metrics(), BATCH_METRIC)
    result["mean_batch_size"] = None if mean is None else round(mean, 2)
    print(
        f"  {clients:3d} clients ({result['client_processes']} procs): {result['requests_per_second']:7.1f} req/s, "
        f"failed {result['failed']}, mean batch {result['mean_batch_size']}, p50 "
        f"{result['latency_ms']['p50'] if result['latency_ms'] else '-'} ms; {_fmt_cpu(result)}",
        flush=True,
    )
    return result


def cpu_budget(batched: dict, canned: dict, serial_rps: float, cores: int) -> dict:
    """What the machine's cores allow at 64 clients, from the CPU each request cost (server + clients).

    ``cpu_ceiling_rps``: the rate at which the batching server's cost per request would keep every core busy;
    ``canned_cpu_ceiling_rps``: the same for the canned-reply server (transport alone);
    ``server_us_for_goal``: the server CPU per request at which 4x the serial rate fits in the cores,
    the clients' share unchanged.
    """
    budget = cores * 1e6

    def ceiling(r: dict) -> float | None:
        cpu = r.get("cpu") or {}
        used = (cpu.get("server_us_per_request") or 0) + (cpu.get("client_us_per_request") or 0)
        return round(budget / used) if used else None

    ours, echo = ceiling(batched), ceiling(canned)
    clients_us = (batched.get("cpu") or {}).get("client_us_per_request")
    return {
        "cores": cores,
        "cpu_ceiling_rps": ours,
        "cpu_ceiling_ratio": round(ours / serial_rps, 2) if ours else None,
        "canned_cpu_ceiling_rps": echo,
        "canned_cpu_ceiling_ratio": round(echo / serial_rps, 2) if echo else None,
        "server_us_for_goal": round(budget / (4 * serial_rps) - clients_us) if clients_us is not None else None,
    }


def procs_for(clients: int, procs: int) -> int:
    return 1 if clients == 1 else min(procs, clients)


# --- measurements ----------------------------------------------------------------------------------------
def measure_latency(
    servers: dict[str, Server], version_dir: Path, images, calls: int, warmup: int, rounds: int = 4
) -> dict:
    """Batch-1 latency, every way interleaved in ``rounds`` blocks so background load hits them alike."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from zoo.serving.client import Client
    from zoo.serving.tensors import to_tensor_proto
    from zoo.weights import create_trained

    n = calls + warmup
    xs = [images[i % len(images)][None] for i in range(n)]
    requests = []
    for x in xs:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs["images"].CopyFrom(to_tensor_proto(x))
        requests.append(request)
    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    model, _ = create_trained(MODEL, WEIGHTS)

    def in_process(i):
        return {k: v.numpy() for k, v in signature(images=tf.constant(xs[i])).items()}["scores"]

    def keras_predict_on_batch(i):
        return model.predict_on_batch(xs[i])

    def keras_call(i):
        return model(xs[i], training=False).numpy()

    ways, clients = {}, []
    for suffix, server in servers.items():
        client = Client(server.target)
        clients.append(client)
        stub = client._predictions  # the raw PredictionServiceStub on the same channel
        ways[f"grpc_client{suffix}"] = lambda i, c=client: c.predict(MODEL, {"images": xs[i]})["scores"]
        ways[f"grpc_raw_stub{suffix}"] = lambda i, s=stub: s.Predict(requests[i], timeout=10)
    ways["in_process_saved_model"] = in_process
    ways["keras_predict_on_batch"] = keras_predict_on_batch

    # Same answers every way (up to float noise): the server serves these weights.
    ref = in_process(0)
    assert np.allclose(ways["grpc_client"](0), ref, atol=1e-5), "gRPC and in-process scores differ"
    logits = keras_predict_on_batch(0)  # the model returns logits; the signature adds a softmax
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    assert np.allclose(probs / probs.sum(-1, keepdims=True), ref, atol=1e-5), "Keras and SavedModel scores differ"

    times = {k: [] for k in ways}
    for fn in ways.values():
        for i in range(warmup):
            fn(i)
    metrics_before = {suffix: s.metrics() for suffix, s in servers.items()}
    per_round = calls // rounds
    for r in range(rounds):
        for name, fn in ways.items():
            for i in range(warmup + r * per_round, warmup + (r + 1) * per_round):
                t = time.perf_counter()
                fn(i)
                times[name].append(time.perf_counter() - t)
    server_side = {}
    for suffix, s in servers.items():
        after = s.metrics()
        server_side[f"server{suffix}"] = {
            "request_latency_mean_ms": round(histogram_mean(metrics_before[suffix], after, REQUEST_METRIC) / 1e3, 3),
            "runtime_latency_mean_ms": round(histogram_mean(metrics_before[suffix], after, RUNTIME_METRIC) / 1e3, 3),
        }
    # Eager model(x) is ~10x slower than the rest: context only, fewer calls.
    keras_calls = min(300, calls)
    for i in range(20):
        keras_call(i)
    times["keras_call"] = []
    for i in range(keras_calls):
        t = time.perf_counter()
        keras_call(i)
        times["keras_call"].append(time.perf_counter() - t)
    for client in clients:
        client.close()
    result = {name: _percentiles(np.array(v) * 1e3) for name, v in times.items()}
    for name, stats in result.items():
        print(f"  {name:28s} p50 {stats['p50']:.3f}  p90 {stats['p90']:.3f}  p99 {stats['p99']:.3f} ms", flush=True)
    print(f"  server side (means over the gRPC calls): {server_side}", flush=True)
    return {"ways": result, "server_side": server_side}


def measure_transport_ceiling(response: bytes, payloads, seconds: float, procs: int) -> dict:
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    port = free_port()
    proc = ctx.Process(target=_echo_server, args=(port, response, 64, ready), daemon=True)
    proc.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the echo server did not start")
        target = f"127.0.0.1:{port}"
        out = {}
        for clients in (1, 64):
            r = run_load(target, payloads, clients, procs_for(clients, procs), seconds, server_pid=proc.pid)
            print(
                f"  echo {clients:3d} clients: {r['requests_per_second']:7.1f} req/s, p50 {r['latency_ms']['p50']} ms; "
                f"{_fmt_cpu(r)}",
                flush=True,
            )
            out[str(clients)] = r
        return out
    finally:
        proc.terminate()
        proc.join(10)


def measure_reload(base: Path, server: Server, payloads, clients: int, procs: int, tail: float = 2.0) -> dict:
    """Exports version 2 while ``clients`` send requests; stops ``tail`` s after v2 AVAILABLE and v1 END."""
    from tensorflow_serving.apis import predict_pb2

    from zoo.serving.client import Client
    from zoo.serving.exporter import export_weights

    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    out: dict = {}
    window = CpuWindow()
    started = threading.Event()
    loader = threading.Thread(
        target=lambda: out.update(
            run_load(server.target, payloads, clients, procs, 0, stop_event=stop, started=started)
        )
    )
    loader.start()
    probe = Client(server.target, retries=0)
    probe_request = predict_pb2.PredictRequest.FromString(payloads[0])
    started.wait(300)
    time.sleep(1.5)  # the load at steady state, then drop in version 2
    export_started = time.time()
    export_weights(MODEL, WEIGHTS, base, version=2)
    exported = time.time()
    v2_available = v1_end = first_v2_answer = None
    states: dict = {}
    while time.time() < exported + 90:
        states = {s["version"]: s["state"] for s in probe.status(MODEL)}
        now = time.time()
        if v2_available is None and states.get(2) == "AVAILABLE":
            v2_available = now
        if first_v2_answer is None:
            response = probe._predictions.Predict(probe_request, timeout=10)
            if response.model_spec.version.value == 2:
                first_v2_answer = time.time()
        if states.get(2) == "AVAILABLE" and states.get(1) == "END":
            v1_end = now
            break
        time.sleep(0.02)
    time.sleep(tail)
    stop.set()
    loader.join()
    probe.close()

    def since(t):
        return None if t is None else round(t - exported, 2)

    result = {
        **out,
        "export_seconds": round(exported - export_started, 2),
        "switch_seconds_to_v2_available": since(v2_available),
        "switch_seconds_to_first_v2_answer": since(first_v2_answer),
        "switch_seconds_to_v1_end": since(v1_end),
        "final_status": {str(k): v for k, v in states.items()},
        "cpu": window.stop(),
    }
    print(
        f"  {result['requests']} requests, {result['failed']} failed {result['errors']}; v2 AVAILABLE after "
        f"{result['switch_seconds_to_v2_available']} s, v1 END after {result['switch_seconds_to_v1_end']} s",
        flush=True,
    )
    return result


def environment() -> dict:
    import grpc
    import keras
    import numpy as np
    import tensorflow as tf

    from zoo.cpu_kernels import cpu_model_name

    cpu = cpu_model_name()
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    try:
        from importlib.metadata import version

        tfs_api = version("tensorflow-serving-api")
    except Exception:  # noqa: BLE001
        tfs_api = None
    return {
        "machine": f"{platform.node()}: {platform.machine()} {platform.system()}, nproc {os.cpu_count()}, "
        f"{cpu}, {mem_kb / 2**20:.1f} GiB RAM",
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "grpcio": grpc.__version__,
        "numpy": np.__version__,
        "tensorflow_serving_api": tfs_api,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def run_record(started: float, load_at_start: list[float]) -> dict:
    """What a report records of its own run: environment, load, command line, date and duration."""
    return {
        "environment": environment(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "command": shown_command(["python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "bench_seconds": round(time.time() - started, 1),
    }


def write_report(out: Path, report: dict, markdown_text: str) -> None:
    """Writes ``out``.json and ``out``.md and prints the markdown (the serving benches' reports)."""
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown_text)
    print(markdown_text)


def wait_until_quiet(limit: float, threshold: float = 0.2) -> None:
    deadline = time.time() + limit
    while True:
        window = CpuWindow()
        time.sleep(2)
        other = window.stop()["other_cores"]
        if other < threshold or time.time() > deadline:
            print(f"other processes use {other} cores; starting", flush=True)
            return
        print(f"other processes use {other} cores; waiting", flush=True)


def write_batching_file(path: Path, params: dict) -> Path:
    path.write_text("".join(f"{k} {{ value: {v} }}\n" for k, v in params.items()))
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each throughput run")
    parser.add_argument(
        "--screen-seconds", type=float, default=4.0, help="duration of each batching-setting trial at 64 clients"
    )
    parser.add_argument("--echo-seconds", type=float, default=4.0, help="duration of each transport-ceiling run")
    parser.add_argument("--calls", type=int, default=2000, help="timed batch-1 calls per latency way")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes (for > 1 client)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to SECONDS for other processes to use < 0.2 cores (shared machines)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short cells ("
        + ", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in QUICK.items())
        + "): a first look in ~1.5 minutes",
    )
    parser.add_argument("--note", default="", help="a line for the report's Run section (e.g. the machine is shared)")
    parser.add_argument("--out", default=str(HERE / "reports"))
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, type(getattr(args, key))(value))
    if args.wait_quiet:
        wait_until_quiet(args.wait_quiet)
    started = time.time()
    whole = CpuWindow()

    import numpy as np
    from tensorflow_serving.apis import predict_pb2

    from zoo import data
    from zoo.serving.exporter import export_weights
    from zoo.serving.tensors import to_tensor_proto

    env = environment()
    print(f"machine: {env['machine']}; load average {env['load_average_at_start']}", flush=True)
    spec, split = data.load("mnist", "test")
    images = (split.images.astype(np.float32) / 255.0).reshape(-1, *spec.input_shape)
    payloads = []
    for x in images[:256]:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs["images"].CopyFrom(to_tensor_proto(x[None]))
        payloads.append(request.SerializeToString())

    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)

    def fresh_base(name: str) -> Path:
        base = SCRATCH / name
        export_weights(MODEL, WEIGHTS, base, version=1)
        return base

    report: dict = {
        "report": "serving",
        "model": MODEL,
        "weights": str(WEIGHTS.relative_to(ROOT)),
        "inputs": f"MNIST test images ({split.source}), /255 float32, batch 1",
        "environment": env,
    }
    phases: dict = {}

    # --- 1 (+ 2 and 3 without batching) -------------------------------------------------------------
    base = fresh_base("models-nobatch")
    plain = Server(base, "nobatch").start()
    tf_config = SCRATCH / "tensorflow-defaults.txt"  # an empty ConfigProto: TensorFlow sizes its thread pools
    tf_config.write_text("")
    tuned = Server(
        fresh_base("models-tf-threads"),
        "nobatch-tf-default-threads",
        "--tensorflow_session_config_file",
        str(tf_config),
    ).start()
    print("servers without batching (default; TensorFlow's own thread pools)", flush=True)
    with plain, tuned:
        report["server_commands"] = {"no_batching": plain.command, "no_batching_tf_default_threads": tuned.command}
        print(" latency", flush=True)
        window = CpuWindow()
        latency = measure_latency(
            {"": plain, "_tf_default_threads": tuned}, base / MODEL / "1", images, args.calls, args.warmup
        )
        phases["latency"] = window.stop()
        tuned.stop()
        print(" throughput without batching", flush=True)
        off = {c: throughput(plain, payloads, c, args.seconds, procs_for(c, args.procs)) for c in CONCURRENCY}
        print(" hot reload without batching", flush=True)
        reload_off = measure_reload(base, plain, payloads, 64, args.procs)
        sample = predict_pb2.PredictRequest.FromString(payloads[0])
        with predict_client(plain) as stub:
            echo_response = stub.Predict(sample, timeout=10).SerializeToString()

    # --- 2 with batching: screen settings at 64 clients (servers load in parallel), best at 1/8/64 ---
    trials, servers = [], []
    for k, (params, intra) in enumerate(BATCHING_SETTINGS):
        params_file = write_batching_file(SCRATCH / f"batching-{k}.txt", params)
        threads = ("--tensorflow_intra_op_parallelism", str(intra)) if intra else ()
        servers.append(
            Server(
                fresh_base(f"models-batch{k}"),
                f"batch{k}",
                "--enable_batching",
                "--batching_parameters_file",
                str(params_file),
                *threads,
            ).start()
        )
        trials.append({"params": params, "intra_op_threads": intra or 1, "file": str(params_file.relative_to(ROOT))})
    try:
        for trial, server in zip(trials, servers):
            server.wait_ready()
        for trial, server in zip(trials, servers):
            print(f"server with batching {trial['params']}, intra-op threads {trial['intra_op_threads']}", flush=True)
            trial["at_64_clients"] = throughput(server, payloads, 64, args.screen_seconds, args.procs)
        best_k = max(range(len(trials)), key=lambda k: trials[k]["at_64_clients"]["requests_per_second"])
        for k, server in enumerate(servers):
            if k != best_k:
                server.stop()
        best, server = trials[best_k], servers[best_k]
        report["server_commands"]["batching"] = server.command
        print(f"best batching setting {best['params']}: 1, 8, 64 clients, then hot reload", flush=True)
        on = {c: throughput(server, payloads, c, args.seconds, procs_for(c, args.procs)) for c in CONCURRENCY}
        print(" hot reload with batching", flush=True)
        reload_on = measure_reload(SCRATCH / f"models-batch{best_k}", server, payloads, 64, args.procs)
    finally:
        for server in servers:
            server.stop()

    print("transport ceiling: Python gRPC server answering a canned PredictResponse", flush=True)
    echo = measure_transport_ceiling(echo_response, payloads, args.echo_seconds, args.procs)

    # --- goals -----------------------------------------------------------------------------------------
    ways = latency["ways"]
    grpc_p50, inproc_p50 = ways["grpc_client"]["p50"], ways["in_process_saved_model"]["p50"]
    serial, batched64 = off[1]["requests_per_second"], on[64]["requests_per_second"]
    server_cpu = off[1]["cpu"]["server_us_per_request"] / 1e3
    goals = {
        "server_cpu": {
            "goal": "server CPU per batch-1 request (1 client, no batching) <= 1.2 ms",
            "server_cpu_ms": server_cpu,
            "met": server_cpu <= 1.2,
        },
        "latency": {
            "goal": "gRPC Client.predict p50 <= in-process SavedModel p50 + 0.8 ms",
            "grpc_p50_ms": grpc_p50,
            "in_process_p50_ms": inproc_p50,
            "difference_ms": round(grpc_p50 - inproc_p50, 3),
            "raw_stub_difference_ms": round(ways["grpc_raw_stub"]["p50"] - inproc_p50, 3),
            "tf_default_threads_difference_ms": round(ways["grpc_client_tf_default_threads"]["p50"] - inproc_p50, 3),
            "ratio": round(grpc_p50 / inproc_p50, 2),
            "met": grpc_p50 <= inproc_p50 + 0.8,
        },
        "throughput": {
            "goal": ">= 4x the serial batch-1 throughput (1 client, no batching) at 64 clients with batching",
            "serial_rps": serial,
            "batched_64_rps": batched64,
            "ratio": round(batched64 / serial, 2),
            "met": batched64 >= 4 * serial,
            "transport_ceiling_64_rps": echo["64"]["requests_per_second"],
            "transport_ceiling_ratio": round(echo["64"]["requests_per_second"] / serial, 2),
            **cpu_budget(on[64], echo["64"], serial, os.cpu_count() or 1),
        },
        "hot_reload": {
            "goal": "0 failed requests while version 2 replaces version 1 under 64 clients",
            "failed_without_batching": reload_off["failed"],
            "failed_with_batching": reload_on["failed"],
            "met": reload_off["failed"] == 0 and reload_on["failed"] == 0,
        },
    }
    report.update(
        {
            "latency_ms": latency["ways"],
            "latency_server_side_ms": latency["server_side"],
            "throughput": {
                "client": f"closed-loop clients: threads in {args.procs} load-generator processes (1 for a single "
                f"client; spawned, no TensorFlow; the threads of a process share one gRPC channel) sending "
                f"prebuilt serialized PredictRequests (256 MNIST test images) through a bytes-in/bytes-out "
                f"unary call, so clients spend no CPU on (de)serialization",
                "without_batching": {str(c): r for c, r in off.items()},
                "with_batching": {str(c): r for c, r in on.items()},
                "batching_trials_at_64_clients": trials,
                "best_batching": best["params"],
                "best_batching_intra_op_threads": best["intra_op_threads"],
                "transport_ceiling": echo,
            },
            "hot_reload": {"without_batching": reload_off, "with_batching": reload_on},
            "goals": goals,
            "machine_load": {"latency_phase": phases["latency"], "whole_run": whole.stop()},
            "command": shown_command(["python", *sys.argv]),
            "note": args.note,
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "bench_seconds": round(time.time() - started, 1),
        }
    )
    report["environment"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "serving.json").write_text(json.dumps(report, indent=2) + "\n")
    md = markdown(report)
    (out / "serving.md").write_text(md)
    print(md)
    return 0


class predict_client:
    """A raw PredictionService stub on its own channel (context manager)."""

    def __init__(self, server: Server):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self._channel = grpc.insecure_channel(server.target)
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def __enter__(self):
        return self._stub

    def __exit__(self, *exc):
        self._channel.close()


# --- markdown -----------------------------------------------------------------------------------------------
def _yes(met: bool) -> str:
    return "met" if met else "NOT met"


def _cpu_cells(r: dict) -> str:
    c = r.get("cpu") or {}
    return f"{c.get('server_us_per_request', '-')} / {c.get('client_us_per_request', '-')} | {c.get('busy_cores', '-')}"


def _budget_text(t: dict, batched: dict) -> str:
    """The CPU-budget reading of goal (c): the rates the cores allow at the measured cost per request."""
    if t.get("cpu_ceiling_rps") is None:
        return ""
    server_us = batched["cpu"]["server_us_per_request"]
    return (
        f"CPU budget: clients and server share {t['cores']} cores, so at 64 clients with batching, where each request "
        f"cost {server_us} + {batched['cpu']['client_us_per_request']} us (server + clients), the cores allow at most "
        f"{t['cpu_ceiling_rps']:.0f} req/s = {t['cpu_ceiling_ratio']}x serial even if none sat idle; at the canned "
        f"server's cost, {t['canned_cpu_ceiling_rps']:.0f} req/s = {t['canned_cpu_ceiling_ratio']}x. 4x serial needs "
        f"the server at <= {t['server_us_for_goal']} us per request (today {server_us})."
    )


def markdown(r: dict) -> str:
    g, lat, tp, env, load = r["goals"], r["latency_ms"], r["throughput"], r["environment"], r["machine_load"]
    rows = "\n".join(
        f"| {name} | {s['p50']:.3f} | {s['p90']:.3f} | {s['p99']:.3f} | {s['n']} |" for name, s in lat.items()
    )
    side = r["latency_server_side_ms"]
    echo = tp["transport_ceiling"]
    tp_rows = []
    for c in tp["without_batching"]:
        a, b = tp["without_batching"][c], tp["with_batching"][c]
        tp_rows.append(
            f"| {c} | {a['client_processes']} | {a['requests_per_second']:.0f} | {b['requests_per_second']:.0f} "
            f"| {b['mean_batch_size']} | {a['latency_ms']['p50']:.2f} / {b['latency_ms']['p50']:.2f} "
            f"| {_cpu_cells(a)} | {_cpu_cells(b)} | {a['failed'] + b['failed']} |"
        )
    trial_rows = "\n".join(
        f"| {t['params']['max_batch_size']} | {t['params']['batch_timeout_micros']} | {t['params']['num_batch_threads']} "
        f"| {t.get('intra_op_threads', '-')} | {t['at_64_clients']['requests_per_second']:.0f} "
        f"| {t['at_64_clients']['mean_batch_size']} |"
        for t in tp["batching_trials_at_64_clients"]
    )
    reload_rows = "\n".join(
        f"| {name.replace('_', ' ')} | {x['requests']} | **{x['failed']}** {x['errors'] or ''} | "
        f"{x['switch_seconds_to_v2_available']} | {x['switch_seconds_to_first_v2_answer']} | "
        f"{x['switch_seconds_to_v1_end']} | {x['requests_per_second']:.0f} | "
        f"{x['latency_ms']['p50']:.1f} / {x['latency_ms']['p99']:.1f} |"
        for name, x in r["hot_reload"].items()
    )
    whole, lp = load["whole_run"], load["latency_phase"]
    return f"""# serving: `zoo serve` with LeNet-5 (MNIST)

One run of `bench/serving_bench.py`; server, load generators and bench are separate processes on the same
{env["nproc"]} CPUs, so every client-side cycle is taken from the server. Ratios compare numbers of the same run.

## 1. Latency, batch-1 Predict (ms; servers without batching)

| way | p50 | p90 | p99 | calls |
|---|---|---|---|---|
{rows}

Servers run with `zoo serve`'s default TensorFlow thread pools (intra-op 1, inter-op 1);
`_tf_default_threads`: the same server with TensorFlow's own pools (an empty `--tensorflow_session_config_file`,
what `zoo serve` did before). Server side (Prometheus means over the gRPC calls): request
{side["server"]["request_latency_mean_ms"]} ms, of which the model run {side["server"]["runtime_latency_mean_ms"]} ms
(TensorFlow's pools: {side["server_tf_default_threads"]["request_latency_mean_ms"]} /
{side["server_tf_default_threads"]["runtime_latency_mean_ms"]} ms). Transport alone (section 2's no-model gRPC server,
1 client): p50 {echo["1"]["latency_ms"]["p50"]:.3f} ms.

Goal: {g["latency"]["goal"]}: difference **{g["latency"]["difference_ms"]:+.3f} ms** (ratio {g["latency"]["ratio"]}x;
raw stub {g["latency"]["raw_stub_difference_ms"]:+.3f} ms; Client.predict with TensorFlow's pools
{g["latency"]["tf_default_threads_difference_ms"]:+.3f} ms): **{_yes(g["latency"]["met"])}**.

## 2. Throughput, batch-1 Predict (requests/s, {tp["without_batching"]["1"]["seconds"]:.0f} s per cell)

| clients | client procs | no batching | batching | mean batch | p50 ms off / on | CPU us/req server / clients (off) | busy cores (off) | CPU us/req server / clients (on) | busy cores (on) | failed |
|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(tp_rows)}

Goal: {g["server_cpu"]["goal"]}: **{g["server_cpu"]["server_cpu_ms"]:.2f} ms**: **{_yes(g["server_cpu"]["met"])}**.

Goal: {g["throughput"]["goal"]}: {g["throughput"]["batched_64_rps"]:.0f} / {g["throughput"]["serial_rps"]:.0f} =
**{g["throughput"]["ratio"]}x**: **{_yes(g["throughput"]["met"])}**.
Transport ceiling (a Python gRPC server with the same thread pool answering a canned PredictResponse, no model,
same clients): {echo["1"]["requests_per_second"]:.0f} req/s (p50 {echo["1"]["latency_ms"]["p50"]:.2f} ms) at 1 client,
**{echo["64"]["requests_per_second"]:.0f} req/s at 64 clients = {g["throughput"]["transport_ceiling_ratio"]}x the serial figure**
(server {echo["64"]["cpu"]["server_us_per_request"]} + clients {echo["64"]["cpu"]["client_us_per_request"]} us CPU per request).
{_budget_text(g["throughput"], tp["with_batching"]["64"])}

Batching settings screened at 64 clients ({tp["batching_trials_at_64_clients"][0]["at_64_clients"]["seconds"]:.0f} s each; best used above):

| max_batch_size | batch_timeout_micros | num_batch_threads | intra-op threads | req/s | mean batch |
|---|---|---|---|---|---|
{trial_rows}

Clients: {tp["client"]}.

## 3. Hot reload under 64 clients (`--file_system_poll_wait_seconds 0.5`)

| server | requests | failed | s to v2 AVAILABLE | s to first v2 answer | s to v1 END | req/s | p50 / p99 ms |
|---|---|---|---|---|---|---|---|
{reload_rows}

Times from the moment `export_weights(..., version=2)` returned (version directory renamed into place), seen by a
probe polling GetModelStatus and Predict, so their resolution is the probe's round trip under this load (~0.1 s);
clients send no version, so they move to version 2 by themselves; no client retries (a failure would count).
Goal: {g["hot_reload"]["goal"]}: **{_yes(g["hot_reload"]["met"])}**.

## Run

- Machine: {env["machine"]}; load average at start {env["load_average_at_start"]}, at end {env["load_average_at_end"]}.
  Other processes used {whole["other_cores"]} cores on average during the run ({lp["other_cores"]} during the latency
  phase); CPU steal {whole["steal_percent"]}% ({lp["steal_percent"]}% during the latency phase).
- Python {env["python"]}, TensorFlow {env["tensorflow"]}, Keras {env["keras"]}, grpcio {env["grpcio"]}, NumPy {env["numpy"]},
  tensorflow-serving-api {env["tensorflow_serving_api"]}.
- Command: `{r["command"]}` ({r["bench_seconds"]:.0f} s), {r["date"]}.
- Servers: `{r["server_commands"]["no_batching"]}`; with batching: `{r["server_commands"]["batching"]}`.
{f"- Note: {r['note']}" if r.get("note") else ""}
"""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
