"""Citation graphs (Planetoid: Cora, CiteSeer, PubMed) for node classification.

Loaded through Spektral's ``Citation`` with the public Planetoid split (140/500/1000
labelled nodes on Cora). Sources, in order: the ``ind.<name>.*`` files in
``KZOO_DATA_DIR/planetoid/``, Spektral's own folder (``~/spektral/datasets/Citation/<name>``),
then Spektral's download unless ``KZOO_OFFLINE=1``. Features are row-normalised and the
adjacency becomes Â = D^-1/2 (A + I) D^-1/2 (``spektral.utils.gcn_filter``), as in Kipf & Welling 2017.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import numpy as np

from zoo.data.settings import data_dir, offline_only, shown_path
from zoo.naming import unknown_name

if TYPE_CHECKING:
    import scipy.sparse as sp  # imported where used: `zoo datasets` lists the graphs without it (0.9 s)

logger = logging.getLogger(__name__)

GRAPHS = ("cora", "citeseer", "pubmed")


@dataclasses.dataclass(frozen=True)
class Graph:
    """One graph in memory: features, normalised adjacency, labels and the split masks."""

    name: str
    features: np.ndarray  # float32 (nodes, features), rows sum to 1
    adjacency: sp.csr_matrix  # float32 (nodes, nodes), gcn_filter applied
    labels: np.ndarray  # int64 (nodes,)
    masks: dict[str, np.ndarray]  # "train" / "validation" / "test" -> bool (nodes,)
    source: str

    @property
    def num_nodes(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1

    def model_overrides(self) -> dict:
        """Constructor arguments fitting a zoo GCN to this graph."""
        return {"num_features": int(self.features.shape[1]), "num_classes": self.num_classes}


def _dense_read_file(read_file):
    """Spektral 1.3.1 calls ``.A`` on what it reads; scipy >= 1.14 removed it. Hand back dense arrays instead."""

    import scipy.sparse as sp

    def read(*args, **kwargs):
        value = read_file(*args, **kwargs)
        return value.toarray() if sp.issparse(value) else value

    return read


def subset_classes(graph: Graph, name: str, classes: tuple[int, ...]) -> Graph:
    """Keeps the labels of ``classes`` (relabelled 0, 1, ... in that order); the other nodes stay in the graph,
    unlabelled: out of every split's mask."""
    if max(classes) >= graph.num_classes:
        raise ValueError(f"{graph.name} has classes 0..{graph.num_classes - 1}. Received: {name!r}")
    relabel = np.full(graph.num_classes, -1, dtype=np.int64)
    relabel[list(classes)] = np.arange(len(classes))
    new = relabel[graph.labels]
    keep = new >= 0
    return dataclasses.replace(
        graph,
        name=name,
        labels=np.where(keep, new, 0),
        masks={k: m & keep for k, m in graph.masks.items()},
        source=f"{graph.source}, classes {list(classes)}",
    )


def load_graph(name: str) -> Graph:
    """Loads a Planetoid citation graph with its public split; ``cora:0,1,2`` keeps the labels of three classes.

    Raises:
        ValueError: unknown name, or no source has the graph (the message says where to put it).
    """
    import scipy.sparse as sp
    from spektral.datasets import citation
    from spektral.utils import gcn_filter

    from zoo.data.datasets import parse_class_subset

    base, classes = parse_class_subset(name)
    if classes is not None:
        return subset_classes(load_graph(base), name, classes)
    if name not in GRAPHS:
        raise unknown_name("citation graph", name, list(GRAPHS))
    offline = data_dir() / "planetoid"
    spektral_dir = Path(citation.DATASET_FOLDER) / "Citation" / name
    if all((offline / f"ind.{name}.{s}").is_file() for s in citation.Citation.suffixes):
        folder, source = offline, f"Planetoid files in {shown_path(offline)}"
    elif spektral_dir.is_dir():
        folder, source = spektral_dir, f"Spektral's copy in {spektral_dir}"
    elif offline_only():
        raise ValueError(
            f"No copy of {name}: put ind.{name}.{{x,y,tx,ty,allx,ally,graph,test.index}} in {offline} "
            f"or unset KZOO_OFFLINE to let Spektral download it."
        )
    else:
        folder, source = spektral_dir, "Spektral's download"

    class _Citation(citation.Citation):
        @property
        def path(self):
            return str(folder)

    # Spektral prints while it pre-processes features; library code stays quiet (the source is logged below).
    # Its row normalisation divides by zero on CiteSeer's featureless nodes and then sets those rows to 0.
    with (
        mock.patch.object(citation, "_read_file", _dense_read_file(citation._read_file)),
        contextlib.redirect_stdout(io.StringIO()),
        np.errstate(divide="ignore"),
    ):
        dataset = _Citation(name, normalize_x=True)
    graph = dataset[0]
    logger.info("Loaded %s (%d nodes) from %s", name, graph.n_nodes, source)
    return Graph(
        name=name,
        features=np.asarray(graph.x, dtype=np.float32),
        adjacency=sp.csr_matrix(gcn_filter(sp.csr_matrix(graph.a, dtype=np.float32))).astype(np.float32),
        labels=np.argmax(graph.y, axis=1).astype(np.int64),
        masks={"train": dataset.mask_tr, "validation": dataset.mask_va, "test": dataset.mask_te},
        source=source,
    )
