"""Prometheus metrics under TF Serving's names, in the text exposition format.

Names follow TF Serving's exporter (``/tensorflow/serving/request_count`` becomes
``:tensorflow:serving:request_count``), so dashboards built for the real server
keep working; labels add ``version`` and ``signature_name`` where kzoo knows them.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

# Latency buckets in microseconds (TF Serving reports request latency in us).
LATENCY_BUCKETS_US = (
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    10_000_000,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def _labels(names: tuple[str, ...], values: tuple) -> str:
    def escape(v) -> str:
        return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{n}="{escape(v)}"' for n, v in zip(names, values))


class Counter:
    TYPE = "counter"

    def __init__(self, name: str, help_text: str, label_names: tuple[str, ...]):
        self.name, self.help, self.label_names = name, help_text, label_names
        self._values: dict[tuple, float] = defaultdict(float)
        self._lock = threading.Lock()

    def inc(self, *labels, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] += amount

    def value(self, *labels) -> float:
        return self._values.get(labels, 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.TYPE}"]
        with self._lock:
            for labels, value in sorted(self._values.items()):
                lines.append(f"{self.name}{{{_labels(self.label_names, labels)}}} {value:g}")
        return lines


class Gauge(Counter):
    TYPE = "gauge"

    def set(self, *labels, value: float) -> None:
        with self._lock:
            self._values[labels] = value


class Histogram:
    def __init__(self, name: str, help_text: str, label_names: tuple[str, ...], buckets: tuple[float, ...]):
        self.name, self.help, self.label_names, self.buckets = name, help_text, label_names, buckets
        self._series: dict[tuple, list] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, *labels) -> None:
        with self._lock:
            series = self._series.setdefault(labels, [[0] * (len(self.buckets) + 1), 0.0, 0])
            series[0][bisect.bisect_left(self.buckets, value)] += 1
            series[1] += value
            series[2] += 1

    def count(self, *labels) -> int:
        series = self._series.get(labels)
        return series[2] if series else 0

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            for labels, (counts, total, n) in sorted(self._series.items()):
                base = _labels(self.label_names, labels)
                sep = "," if base else ""
                running = 0
                for bound, c in zip(self.buckets, counts):
                    running += c
                    lines.append(f'{self.name}_bucket{{{base}{sep}le="{bound:g}"}} {running}')
                lines.append(f'{self.name}_bucket{{{base}{sep}le="+Inf"}} {n}')
                lines.append(f"{self.name}_sum{{{base}}} {total:g}")
                lines.append(f"{self.name}_count{{{base}}} {n}")
        return lines


class ServingMetrics:
    """The server's metrics; ``render()`` gives the Prometheus text."""

    def __init__(self):
        self.request_count = Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            ("model_name", "version", "signature_name", "API", "entrypoint", "status"),
        )
        self.request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) of requests.",
            ("model_name", "version", "signature_name", "API", "entrypoint"),
            LATENCY_BUCKETS_US,
        )
        self.runtime_latency = Histogram(
            ":tensorflow:serving:runtime_latency",
            "Distribution of wall time (in microseconds) of model runs.",
            ("model_name", "version", "signature_name"),
            LATENCY_BUCKETS_US,
        )
        self.batch_size = Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Distribution of processed (padded) batch sizes.",
            ("model_name", "version", "signature_name"),
            BATCH_BUCKETS,
        )
        self.input_batch_size = Histogram(
            ":tensorflow:serving:batching_session:input_batch_size",
            "Distribution of batch sizes before padding.",
            ("model_name", "version", "signature_name"),
            BATCH_BUCKETS,
        )
        self.model_state = Gauge(
            ":tensorflow:serving:model_version_available",
            "1 while a model version is AVAILABLE.",
            ("model_name", "version"),
        )
        self.load_count = Counter(
            ":tensorflow:cc:saved_model:load_attempt_count",
            "Model load attempts.",
            ("model_path", "status"),
        )

    def render(self) -> str:
        metrics = (
            self.request_count,
            self.request_latency,
            self.runtime_latency,
            self.batch_size,
            self.input_batch_size,
            self.model_state,
            self.load_count,
        )
        return "\n".join(line for m in metrics for line in m.render()) + "\n"
