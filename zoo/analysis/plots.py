"""Plotting helpers shared by reports and run directories: matplotlib without a display, image grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only: servers and CI have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_grid(
    images: np.ndarray, path: str | Path, *, columns: int = 8, title: str | None = None, scale: float = 0.9
) -> Path:
    """Writes images in [0, 1], (n, H, W, C), as a grid PNG without axes.

    Example:
        >>> import tempfile
        >>> image_grid(np.zeros((4, 8, 8, 1)), tempfile.mkdtemp() + "/grid.png", columns=2).name
        'grid.png'
    """
    plt = pyplot()
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    rows = -(-len(images) // columns)
    title_height = 0.4 if title else 0.0
    fig, axes = plt.subplots(rows, columns, figsize=(columns * scale, rows * scale + title_height), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image in zip(axes.ravel(), images):
        ax.imshow(
            image[..., 0] if image.shape[-1] == 1 else image,
            cmap="gray" if image.shape[-1] == 1 else None,
            vmin=0.0,
            vmax=1.0,
        )
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(
        left=0.01,
        right=0.99,
        bottom=0.01,
        wspace=0.04,
        hspace=0.04,
        top=1 - (title_height + 0.02) / (rows * scale + title_height),
    )  # leaves the title its room
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path)
