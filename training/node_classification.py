"""Training and evaluation of graph models on one graph's nodes: masks instead of batches.

The whole graph is one batch (Spektral's single mode). The loss and accuracy of a
split average over that split's labelled nodes only: the other nodes get sample
weight 0 and the split's nodes ``nodes / labelled``, so the weighted mean over
the graph is the plain mean over the split, as in Kipf & Welling's code (their
weight decay is then weighed against the same loss). Training stops when the
validation loss has not improved for ``PATIENCE`` epochs (Kipf & Welling use 10,
out of 200 epochs) and keeps the weights of the best validation loss.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import keras
import numpy as np

import zoo
from zoo.data.graphs import Graph, load_graph
from zoo.registry import get_entry
from zoo.training import checkpoints, engine
from zoo.training.engine import TrainConfig, TrainResult
from zoo.weights import create_trained

logger = logging.getLogger(__name__)

PATIENCE = 10


def _inputs(graph: Graph) -> list[np.ndarray]:
    return [graph.features, graph.adjacency.toarray()]


def _weights(graph: Graph, split: str) -> np.ndarray:
    mask = graph.masks[split]
    return mask.astype(np.float32) * (graph.num_nodes / mask.sum())


def _compile(model: keras.Model, optimizer=None) -> None:
    model.compile(
        optimizer=optimizer or "adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def build_for_graph(model_name: str, graph: Graph, overrides: dict[str, Any] | None = None) -> keras.Model:
    """Creates a node classifier fitted to a graph's feature and class counts."""
    entry = get_entry(model_name)
    if entry.task != "node_classification":
        raise ValueError(f"{model_name} is a {entry.task} model; this trainer handles node_classification.")
    return zoo.create(model_name, **{**graph.model_overrides(), **(overrides or {})})


@dataclasses.dataclass
class GraphData(engine.TaskData):
    """A graph made ready to fit: one full-graph batch, split masks as sample weights, early stopping.

    The whole graph is one batch, so it is not split across replicas.
    """

    dataset: str
    graph: Graph
    config: TrainConfig
    monitor = "val_loss"
    steps_per_epoch = 1
    distributable = False

    @classmethod
    def load(cls, dataset: str, config: TrainConfig) -> "GraphData":
        return cls(dataset, load_graph(dataset), config)

    @property
    def examples_per_epoch(self) -> int:
        return int(self.graph.masks["train"].sum())

    def model_overrides(self) -> dict[str, Any]:
        return self.graph.model_overrides()

    def describe(self) -> dict[str, Any]:
        return {"data_source": self.graph.source, "examples": {k: int(v.sum()) for k, v in self.graph.masks.items()}}

    def compile(self, model: keras.Model, optimizer) -> None:
        _compile(model, optimizer)

    def callbacks(self, run_dir: Path) -> list[keras.callbacks.Callback]:
        return [checkpoints.EarlyStopping(monitor="val_loss", patience=PATIENCE)]

    def fit(
        self,
        model: keras.Model,
        *,
        epochs: int,
        initial_epoch: int = 0,
        skip_steps: int = 0,
        callbacks=(),
        verbose="auto",
    ):
        inputs, graph = _inputs(self.graph), self.graph
        return model.fit(
            inputs,
            graph.labels,
            sample_weight=_weights(graph, "train"),
            batch_size=graph.num_nodes,
            epochs=epochs,
            initial_epoch=initial_epoch,
            shuffle=False,
            verbose=verbose,
            callbacks=list(callbacks),
            validation_data=(inputs, graph.labels, _weights(graph, "validation")),
        )

    def evaluate(self, model: keras.Model) -> dict[str, Any]:
        return evaluate_model(model, self.dataset, graph=self.graph)


def train(
    model_name: str,
    dataset: str,
    *,
    config: TrainConfig | None = None,
    out: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainResult:
    """Trains a node classifier on a citation graph's training nodes and writes a run directory.

    Kipf & Welling's recipe is ``TrainConfig(epochs=200, lr=0.01, schedule="constant")``.
    """
    config = config or TrainConfig()
    get_entry(model_name)
    return engine.fit(
        model_name,
        dataset,
        config,
        out=out,
        load_data=GraphData.load,
        build=lambda prepared: build_for_graph(model_name, prepared.graph, overrides),
    )


def evaluate_model(model: keras.Model, dataset: str, *, graph: Graph | None = None) -> dict[str, Any]:
    """Accuracy and loss over the test nodes of ``dataset`` (the whole graph is the input)."""
    graph = graph or load_graph(dataset)
    expected = (graph.features.shape[1], graph.num_classes)
    if (model.input_shape[0][-1], model.output_shape[-1]) != expected:
        raise ValueError(
            f"{model.name} takes {model.input_shape[0][-1]} features and predicts {model.output_shape[-1]} "
            f"classes, but {dataset} has {expected[0]} features and {expected[1]} classes."
        )
    if not getattr(model, "compiled", False):
        _compile(model)
    loss, accuracy = model.evaluate(
        _inputs(graph), graph.labels, sample_weight=_weights(graph, "test"), batch_size=graph.num_nodes, verbose=0
    )
    return {
        "accuracy": float(accuracy),
        "loss": float(loss),
        "examples": int(graph.masks["test"].sum()),
        "source": graph.source,
    }


def evaluate(model_name: str, weights: str | Path, dataset: str, *, batch_size: int = 256) -> dict[str, Any]:
    """Loads trained weights (run directory or ``.weights.h5``) and evaluates them on the test nodes."""
    graph = load_graph(dataset)
    model, _ = create_trained(model_name, weights, build=lambda: build_for_graph(model_name, graph))
    return evaluate_model(model, dataset, graph=graph)
