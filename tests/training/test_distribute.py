"""tf.distribute: strategies by name, replicas that match one device, two workers in lockstep, kill and resume."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from kill_and_resume import kill_mid_epoch

from zoo.training import TrainConfig, checkpoints, distribute, train
from zoo.training.engine import weights_fingerprint

HERE = Path(__file__).resolve().parent
ZOO = [sys.executable, "-m", "zoo.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tf_config_gives_each_process_its_role(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.worker_role() == distribute.WorkerRole("chief", 0, 1) and distribute.worker_role().chief
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 2}}))
    role = distribute.worker_role()
    assert (role.index, role.workers, role.chief) == (2, 3, False)
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distribute.worker_role()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"task": {}}))
    with pytest.raises(ValueError, match='needs a "cluster"'):
        distribute.tf_config()


def test_bad_strategy_settings_get_clear_errors(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="strategy multi_worker needs TF_CONFIG"):
        distribute.make_strategy("multi_worker")
    with pytest.raises(ValueError, match="strategy must be one of"):
        TrainConfig(strategy="horovod").validate()
    with pytest.raises(ValueError, match="lr_scaling must be one of"):
        TrainConfig(lr_scaling="sqrt").validate()
    assert distribute.make_strategy("auto").num_replicas_in_sync == 1
    assert distribute.scaled_lr(0.1, "linear", 8) == pytest.approx(0.8)


def test_a_run_records_its_strategy_throughput_and_mixed_precision(tmp_path):
    config = TrainConfig(epochs=1, max_train_examples=1000, batch_size=100, mixed_precision=True, verbose=0)
    result = train("lenet5", "mnist", config=config, out=tmp_path / "run")
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["distribution"]["dtype_policy"] == "mixed_bfloat16" and record["distribution"]["replicas"] == 1
    assert result.model.dtype_policy.name == "float32"  # the evaluated copy computes in float32
    assert result.history["examples_per_second"][0] > 0 and result.history["epoch_seconds"][0] > 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["examples_per_second"] > 0 and result.test["accuracy"] > 0.5
    assert not (tmp_path / "run" / "backup").exists()  # removed once the run finished


def test_resuming_continues_a_backup_and_refuses_other_settings(tmp_path):
    run = tmp_path / "run"
    config = TrainConfig(epochs=2, max_train_examples=600, batch_size=100, verbose=0, seed=4)
    done = train("lenet5", "mnist", config=TrainConfig(**{**config.__dict__, "epochs": 1}), out=run)
    (run / "results.json").unlink()  # pretend epoch 2 was interrupted: a backup after epoch 1
    record = json.loads((run / "config.json").read_text())
    record["training"]["epochs"] = 2
    (run / "config.json").write_text(json.dumps(record))
    done.model.compile(optimizer="adam")
    history = json.loads((run / "history.json").read_text())
    backup = checkpoints.Backup(run, steps_per_epoch=6, history=lambda: history)
    backup.set_model(done.model)
    backup.save(1, 0)
    with pytest.raises(FileExistsError, match="holds an interrupted run"):
        train("lenet5", "mnist", config=config, out=run)
    with pytest.raises(ValueError, match=r"other training settings \(lr"):
        train("lenet5", "mnist", config=TrainConfig(**{**config.__dict__, "lr": 0.1, "resume": True}), out=run)
    resumed = train("lenet5", "mnist", config=TrainConfig(**{**config.__dict__, "resume": True}), out=run)
    assert len(resumed.history["loss"]) == 2 and resumed.history["loss"][0] == history["loss"][0]
    assert not (run / "backup").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["classifier", "gan", "sws"])
def test_mirrored_over_two_cpu_devices_matches_one_device(kind, tmp_path):
    """Same global batch, same data: two replicas end with the weights of one device (float tolerance)."""
    done = subprocess.run(
        [sys.executable, str(HERE / "replica_equivalence.py"), kind, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    line = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
    assert done.returncode == 0 and line, done.stderr[-3000:]
    result = json.loads(line[0][len("RESULT ") :])
    (one, single), (two, mirrored) = result["one_device"], result["mirrored"]
    assert (one, two) == (1, 2)
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(np.array(b), np.array(a), atol=1e-5)
    assert not all(np.allclose(a, 0) for a in single)


def _worker_command(out: Path) -> list[str]:
    return [
        *ZOO,
        "train",
        "lenet5",
        "--dataset",
        "mnist",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--max-train-examples",
        "1024",
        "--seed",
        "3",
        "--quiet",
        "--json",
        "--out",
        str(out),
    ]


@pytest.mark.slow
def test_two_workers_train_in_lockstep_like_one_process(tmp_path):
    """`zoo train --strategy multi_worker` once per worker: both end with the same weights, the chief writes them."""
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(
            subprocess.Popen(
                [*_worker_command(tmp_path / f"worker{index}"), "--strategy", "multi_worker"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
    single = subprocess.run(_worker_command(tmp_path / "single"), capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    results = [json.loads((tmp_path / f"worker{i}" / "results.json").read_text()) for i in range(2)]
    assert [r["distribution"]["replicas"] for r in results] == [2, 2]
    assert results[0]["final_weights_fingerprint"] == results[1]["final_weights_fingerprint"]
    histories = [json.loads((tmp_path / f"worker{i}" / "history.json").read_text()) for i in range(2)]
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-6)
    assert (tmp_path / "worker0" / "best.weights.h5").is_file() and not (
        tmp_path / "worker1" / "best.weights.h5"
    ).exists()
    alone = json.loads((tmp_path / "single" / "results.json").read_text())
    assert results[0]["final_weights_fingerprint"] == pytest.approx(alone["final_weights_fingerprint"], rel=1e-4)
    np.testing.assert_allclose(
        histories[0]["loss"], json.loads((tmp_path / "single" / "history.json").read_text())["loss"], rtol=1e-3
    )


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path):
    command = [
        *ZOO,
        "train",
        "lenet5",
        "--dataset",
        "mnist",
        "--epochs",
        "2",
        "--batch-size",
        "50",
        "--max-train-examples",
        "1500",
        "--backup-every",
        "7",
        "--seed",
        "1",
        "--quiet",
        "--json",
    ]
    full = subprocess.run([*command, "--out", str(tmp_path / "full")], capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]
    run = tmp_path / "cut"
    point = kill_mid_epoch(command, run)
    assert point.epoch >= 1 and point.step % 7 == 0 and point.step > 0  # killed in the middle of an epoch
    refused = subprocess.run([*command, "--out", str(run)], capture_output=True, text=True)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = subprocess.run([*command, "--out", str(run), "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = (json.loads((tmp_path / r / "results.json").read_text()) for r in ("full", "cut"))
    assert a["final_weights_fingerprint"] == b["final_weights_fingerprint"]
    assert a["test"]["accuracy"] == b["test"]["accuracy"] and b["epochs_run"] == 2
    before = sum(point.history["epoch_seconds"][: point.epoch])  # the time spent before the kill counts too
    assert before > 0 and b["train_seconds"] >= round(before, 1)
    import zoo
    from zoo.weights import load_weights

    weights = []
    for r in ("full", "cut"):
        model = zoo.create("lenet5")
        load_weights(model, tmp_path / r / "last.weights.h5")
        weights.append(model.get_weights())
    for x, y in zip(*weights):
        np.testing.assert_array_equal(x, y)
    assert weights_fingerprint(model) == b["final_weights_fingerprint"]


def test_resume_needs_the_run_directory():
    with pytest.raises(ValueError, match="give its run directory"):
        train("lenet5", "mnist", config=TrainConfig(epochs=1, resume=True))


def test_a_backup_carries_the_stage_and_the_early_stopping_count(tmp_path):
    import keras

    import zoo

    early = checkpoints.EarlyStopping(monitor="loss", patience=3)
    early.wait, early.best, early.best_epoch = 2, 0.5, 4
    model = zoo.create("lenet_300_100")
    model.compile(optimizer="adam")
    backup = checkpoints.Backup(tmp_path, steps_per_epoch=10, history=lambda: {"loss": [1.0, 0.9]})
    backup.set_model(model)
    backup.progress, backup.stateful = {"stage": 1, "stage_start": 7}, {"3": early}
    backup.save(9, 4)
    point = checkpoints.read_backup(tmp_path)
    assert (point.epoch, point.step, point.stage, point.stage_start) == (9, 4, 1, 7)
    fresh = checkpoints.EarlyStopping(monitor="loss", patience=3)
    fresh.carry(point.callbacks["3"])
    fresh.set_model(model)
    fresh.on_train_begin()
    assert (fresh.wait, fresh.best, fresh.best_epoch) == (2, 0.5, 4)
    fresh.on_train_begin()  # a new stage starts its own count
    assert fresh.wait == 0 and isinstance(fresh, keras.callbacks.EarlyStopping)
