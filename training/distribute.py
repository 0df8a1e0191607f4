"""tf.distribute strategies by name, worker roles from ``TF_CONFIG``, mixed precision and input sharding.

``make_strategy("auto")`` picks MultiWorkerMirroredStrategy when ``TF_CONFIG``
names a cluster, MirroredStrategy when several GPUs are visible, and the default
(one device) strategy otherwise. Every zoo trainer builds and compiles its model
under ``strategy.scope()`` and hands Keras global batches: Keras splits each
global batch across the replicas (``per_replica = global / num_replicas_in_sync``).

Multi-worker training runs the same ``zoo train`` command once per worker, each
with its own ``TF_CONFIG``; the strategy must exist before TensorFlow runs any op,
which ``zoo train`` guarantees by creating it first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
from typing import Any

from zoo.cpu_kernels import BFLOAT16_CPU_FLAGS, cpu_computes_bfloat16

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
LR_SCALINGS = ("none", "linear")


def tf_config() -> dict[str, Any] | None:
    """The parsed ``TF_CONFIG`` environment variable, or None when unset.

    Raises:
        ValueError: it is not JSON, or has no ``cluster``.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON: {err}. Received: {raw[:200]!r}") from err
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise ValueError(f'TF_CONFIG needs a "cluster" with the worker addresses. Received: {raw[:200]!r}')
    return config


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """This process's place in the cluster: ``chief`` writes the weights; every worker writes its run directory.

    The chief is the task of type ``chief`` when the cluster declares one, else worker 0.
    """

    task_type: str
    index: int
    workers: int
    declared_chief: bool = False

    @property
    def chief(self) -> bool:
        return self.task_type == "chief" or (not self.declared_chief and self.task_type == "worker" and self.index == 0)


def worker_role() -> WorkerRole:
    """The role ``TF_CONFIG`` gives this process (a lone process is the chief of a one-worker cluster)."""
    config = tf_config()
    if config is None:
        return WorkerRole("chief", 0, 1)
    task = config.get("task") or {}
    cluster = config["cluster"]
    workers = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    return WorkerRole(str(task.get("type", "worker")), int(task.get("index", 0)), workers, bool(cluster.get("chief")))


def make_strategy(name: str = "auto"):
    """Builds the ``tf.distribute`` strategy called ``name``.

    Args:
        name: ``auto``, ``one_device`` (the default strategy; ``/GPU:0`` when there is one),
            ``mirrored`` (all local GPUs, or the local CPU devices), ``multi_worker``
            (needs ``TF_CONFIG``), ``tpu`` (a TPU cluster resolver from the environment).

    Raises:
        ValueError: an unknown name, or ``multi_worker`` without ``TF_CONFIG``.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}. Received: strategy={name!r}")
    config = tf_config()
    if name == "auto":
        if config is not None and sum(len(config["cluster"].get(k, [])) for k in ("chief", "worker")) > 1:
            name = "multi_worker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "one_device"
    if name == "multi_worker":
        if config is None:
            raise ValueError(
                "strategy multi_worker needs TF_CONFIG: set it on each worker to "
                '{"cluster": {"worker": ["host0:port", "host1:port"]}, "task": {"type": "worker", "index": i}}.'
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        if strategy.extended._in_multi_worker_mode():
            from zoo.training import multi_worker_fix

            multi_worker_fix.apply()
    elif name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
    elif name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
    else:
        gpus = tf.config.list_logical_devices("GPU")
        strategy = tf.distribute.OneDeviceStrategy(gpus[0].name) if gpus else tf.distribute.get_strategy()
    logger.info("Strategy %s with %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync)
    return strategy


def describe(strategy) -> dict[str, Any]:
    """What a run records about its strategy."""
    role = worker_role()
    return {
        "strategy": type(strategy).__name__,
        "replicas": int(strategy.num_replicas_in_sync),
        "workers": role.workers,
        "task": {"type": role.task_type, "index": role.index},
    }


def scaled_lr(lr: float, scaling: str, replicas: int) -> float:
    """``linear``: lr x replicas (Goyal et al. 2017, for a global batch that grows with the replicas); ``none``: lr.

    Example:
        >>> scaled_lr(0.1, "linear", 4)
        0.4
    """
    if scaling not in LR_SCALINGS:
        raise ValueError(f"lr_scaling must be one of {LR_SCALINGS}. Received: lr_scaling={scaling!r}")
    return lr * replicas if scaling == "linear" else lr


def shard_by_data(dataset):
    """Sets ``AutoShardPolicy.DATA``: in-memory data has no files to shard, so each worker keeps every k-th batch."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


@functools.cache
def _warn_once_if_bfloat16_is_emulated(policy: str) -> bool:
    return warn_if_bfloat16_is_emulated(policy)


def _tpus() -> list:
    import tensorflow as tf

    return tf.config.list_logical_devices("TPU")


def mixed_precision_policy() -> str:
    """``mixed_float16`` on GPUs, ``mixed_bfloat16`` elsewhere (TPUs and CPUs with AVX512_BF16 or AMX compute it natively)."""
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def warn_if_bfloat16_is_emulated(policy: str, cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool:
    """Logs a warning when ``policy`` computes in bfloat16 on a CPU without bfloat16 instructions; returns whether it did."""
    if policy != "mixed_bfloat16" or cpu_computes_bfloat16(cpuinfo) is not False:
        return False
    logger.warning(
        "Mixed precision computes in bfloat16, which this CPU has no instructions for (no %s): TensorFlow emulates "
        "it and training runs several times slower than in float32 (ResNet-20: 23 against 213 examples/s on a "
        "2-core AMD EPYC, bench/reports/cpu-training.md run 5). Leave --mixed-precision off on this machine.",
        " or ".join(BFLOAT16_CPU_FLAGS),
    )
    return True


@contextlib.contextmanager
def precision(enabled: bool):
    """Builds models under a mixed-precision policy while active (variables stay float32), then restores the old one."""
    import keras

    previous = keras.config.dtype_policy()
    if enabled:
        policy = mixed_precision_policy()
        if not _tpus():  # a TPU computes bfloat16 whatever its host CPU has
            _warn_once_if_bfloat16_is_emulated(policy)
        keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
