"""Serving fixtures: a tiny LeNet-5 really trained on MNIST, exported, and served by ``zoo serve`` subprocesses.

Everything runs offline (``KZOO_OFFLINE=1`` from tests/conftest.py) on the real
MNIST copy; servers bind free loopback ports picked by binding port 0.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

MODEL = "lenet5"
#: The shared server's --max_message_bytes: small, so an oversized request is cheap to send.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
READY_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def zoo_command() -> list[str]:
    """``python -m zoo.cli`` (zoo/cli.py runs main() under ``__main__``)."""
    return [sys.executable, "-m", "zoo.cli"]


@dataclasses.dataclass
class Exported:
    """The trained run and its export: ``base_path/lenet5/1`` plus ``base_path/models.config``."""

    run_dir: Path
    base_path: Path

    @property
    def config_file(self) -> Path:
        return self.base_path / "models.config"

    def copy_to(self, target: Path) -> Exported:
        """A private copy of the base path (so servers that reload versions do not share one)."""
        from zoo.serving import config_files

        shutil.copytree(self.base_path / MODEL, target / MODEL)
        config_files.upsert_model(target / config_files.MODELS_CONFIG, MODEL, (target / MODEL).absolute())
        return Exported(self.run_dir, target)


@dataclasses.dataclass
class ServerProcess:
    """A ``zoo serve`` subprocess and where it listens."""

    process: subprocess.Popen
    grpc_port: int
    rest_port: int
    log_path: Path
    base: Exported

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **options):
        from zoo.serving.client import Client

        return Client(self.target, **options)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> ServerProcess:
        """Blocks until lenet5 is AVAILABLE over gRPC and REST answers; fails with the server's log."""
        from zoo.serving.errors import ServingError

        deadline = time.monotonic() + timeout
        with self.client(retries=0) as client:
            while True:
                if self.process.poll() is not None:
                    pytest.fail(f"zoo serve exited with {self.process.returncode} before it was ready:\n{self.log()}")
                try:
                    client.wait_until_available(MODEL, timeout=min(2.0, max(deadline - time.monotonic(), 0.1)))
                    if self.rest("GET", f"/v1/models/{MODEL}")[0] == 200:
                        return self
                except (ServingError, OSError):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"zoo serve was not ready within {timeout} s:\n{self.log()}")
                time.sleep(0.2)

    def rest(
        self, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 30
    ) -> tuple[int, object]:
        """One REST call: returns (HTTP status, decoded JSON body or the raw text if not JSON)."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        conn = http.client.HTTPConnection("127.0.0.1", self.rest_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode("utf-8", "replace")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code (killing it if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            pytest.fail(f"zoo serve did not exit within {timeout} s of SIGTERM:\n{self.log()}")


def launch_server(base: Exported, log_dir: Path, *extra: str) -> ServerProcess:
    """Starts ``zoo serve`` on free ports (does not wait; call ``wait_ready``)."""
    grpc_port, rest_port = free_port(), free_port()
    while rest_port == grpc_port:
        rest_port = free_port()
    log_path = log_dir / f"serve-{grpc_port}.log"
    command = [
        *zoo_command(),
        "serve",
        "--model_config_file",
        str(base.config_file),
        "--port",
        str(grpc_port),
        "--rest_api_port",
        str(rest_port),
        "--file_system_poll_wait_seconds",
        "0.5",
        "--host",
        "127.0.0.1",
        *extra,
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
            cwd=Path(__file__).resolve().parents[2],
        )
    return ServerProcess(process, grpc_port, rest_port, log_path, base)


@pytest.fixture(scope="session")
def exported_lenet5(tmp_path_factory) -> Exported:
    """LeNet-5 trained for one epoch on 2,000 real MNIST images, exported as version 1."""
    from zoo.serving.exporter import export_weights
    from zoo.training import TrainConfig, train

    root = tmp_path_factory.mktemp("lenet5")
    config = TrainConfig(
        epochs=1, max_train_examples=2000, batch_size=128, validation_split=0.0, augment="none", verbose=0
    )
    result = train(MODEL, "mnist", config=config, out=root / "run")
    base = root / "models"
    version_dir = export_weights(MODEL, result.run_dir, base)
    assert version_dir == (base / MODEL / "1").absolute()
    return Exported(result.run_dir, base)


@pytest.fixture(scope="session")
def keras_lenet5(exported_lenet5):
    """The same trained weights in an in-process Keras model (the reference for the server's numbers)."""
    import zoo
    from zoo.weights import load_weights, resolve_weights

    weights, run_config = resolve_weights(exported_lenet5.run_dir)
    model = zoo.create(MODEL, **run_config["model_config"])
    load_weights(model, weights)
    return model


@pytest.fixture(scope="session")
def mnist_images(mnist_test):
    """The first 64 MNIST test images as float32 pixels in [0, 1], (N, 28, 28, 1), with their labels."""
    _, split = mnist_test
    return split.images[:64].astype(np.float32) / 255.0, split.labels[:64].astype(np.int64)


@pytest.fixture(scope="session")
def serving_server(exported_lenet5, tmp_path_factory):
    """The shared ``zoo serve``: batching on, 8 MiB message limit, its own copy of the base path."""
    root = tmp_path_factory.mktemp("served")
    server = launch_server(
        exported_lenet5.copy_to(root / "models"),
        root,
        "--enable_batching",
        "--max_message_bytes",
        str(MAX_MESSAGE_BYTES),
    )
    try:
        server.wait_ready()
        yield server
    finally:
        code = server.terminate()
    assert code == 0, f"zoo serve exited with {code} after SIGTERM:\n{server.log()}"


@pytest.fixture(scope="session")
def spare_server(exported_lenet5, tmp_path_factory):
    """A second ``zoo serve`` (a test may shut it down); launched at once, ``wait_ready()`` before use."""
    root = tmp_path_factory.mktemp("spare")
    server = launch_server(exported_lenet5.copy_to(root / "models"), root, "--enable_batching")
    try:
        yield server
    finally:
        server.terminate()


@pytest.fixture(scope="session")
def start_server():
    """Starts ``zoo serve`` on a test's own export base path: ``start_server(base_path, log_dir, *flags)``."""
    return lambda base_path, log_dir, *extra: launch_server(Exported(None, Path(base_path)), log_dir, *extra)


@pytest.fixture(scope="module")
def serve_models(tmp_path_factory, start_server):
    """``serve_models(models)``: exports each model (name -> Keras model) as version 1, starts ``zoo serve`` on them and
    waits until every one is AVAILABLE; the server is stopped (and must exit cleanly) after the module."""
    from zoo.serving.exporter import export

    started = []

    from zoo.serving.errors import ServingError

    def serve(models: dict, timeout: float = 180.0) -> ServerProcess:
        root = tmp_path_factory.mktemp("served")
        for model in models.values():
            export(model, root / "models", version=1)
        process = start_server(root / "models", root)
        started.append(process)
        deadline = time.monotonic() + timeout
        with process.client(retries=0) as client:
            for name in models:
                while True:
                    assert process.process.poll() is None, process.log()
                    try:
                        client.wait_until_available(name, timeout=2.0)
                        break
                    except (ServingError, OSError):
                        assert time.monotonic() < deadline, process.log()
        return process

    yield serve
    for process in started:
        assert process.terminate() == 0, process.log()
