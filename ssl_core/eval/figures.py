"""Figures of a finished search: the best trial's embeddings and its long-tail accuracies.

Figures are built as bare ``matplotlib.figure.Figure`` objects on an Agg canvas, never through
``pyplot``: nothing needs a display, and no figure lingers in pyplot's global registry (a
search writes several; pyplot would warn after 20). ``save_figure`` writes PNGs of a known
pixel size (figure inches x ``DPI``: no tight bounding box), atomically, so a reader never
sees half a file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from ssl_core.atomic import atomic_file

DPI = 120
EMBEDDING_INCHES = (8.0, 6.0)  # 960 x 720 px at DPI
LONGTAIL_INCHES = (6.0, 4.0)  # 720 x 480 px at DPI
MAX_LEGEND_CLASSES = 20  # tab20 has 20 distinct colours; beyond that colours repeat and a legend misleads
METHODS = ("tsne", "pca")
GROUPS = ("head_top1", "medium_top1", "tail_top1")
UNLABELLED_COLOUR = (0.6, 0.6, 0.6, 1.0)


def new_figure(inches: tuple[float, float]) -> Figure:
    """A Figure with its own Agg canvas (no pyplot, no display) and constrained layout."""
    fig = Figure(figsize=inches, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def project_2d(features: Tensor, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """2-D coordinates of L2-normalised features: ``[N, F] -> [N, 2]`` float64.

    Features are L2-normalised first because every metric here (kNN, alignment) compares
    directions (cosine), not lengths. ``tsne``: t-SNE (van der Maaten & Hinton 2008) with
    perplexity ``min(30, (N - 1) / 3)`` (sklearn needs perplexity < N; 30 is its default),
    PCA initialisation (stable layouts across runs, Kobak & Berens 2019) and ``seed``;
    ``pca``: the first two principal components.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if features.dim() != 2 or features.shape[0] < 2 or features.shape[1] < 2:
        raise ValueError(f"features must be [N, F] with N >= 2 and F >= 2, got shape {tuple(features.shape)}")
    x = torch.nn.functional.normalize(features.detach().double().cpu(), dim=1).numpy()
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values; a collapsed or diverged model cannot be drawn")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x)
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = x.shape[0]
    perplexity = min(30.0, (n - 1) / 3.0)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    # One OpenMP thread: with the cores shared (other trials, a loaded 2-core machine) the
    # multi-threaded Barnes-Hut gradient spin-waits and ran 6-40x slower (1000 points: 25 s
    # against 4 s); single-threaded it stays a few seconds per thousand points.
    with threadpool_limits(limits=1, user_api="openmp"):
        return tsne.fit_transform(x)


def embedding_figure(features: Tensor, labels: Tensor, class_names: Sequence[str], method: str = "tsne",
                     seed: int = 0, title: str = "") -> Figure:
    """Scatter of a 2-D projection of the embeddings, one colour (tab20) per class.

    Args:
        features: [N, F] embeddings (any scale; L2-normalised here).
        labels: [N] int class indices into ``class_names``; -1 = unlabelled (grey).
        class_names: name of every class, indexed by label.
        method: ``tsne`` or ``pca`` (see ``project_2d``).
        seed: t-SNE / PCA random state.
        title: figure title; the projection method is appended.

    Returns:
        A Figure with one scatter collection per class present (in class order, unlabelled
        last), with a legend of class names when at most 20 classes are present.
    """
    if labels.dim() != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(f"labels must be [N] with N = {features.shape[0]} (rows of features), "
                         f"got shape {tuple(labels.shape)}")
    y = labels.detach().cpu().long().numpy()
    if len(y) and (y.max() >= len(class_names) or y.min() < -1):
        raise ValueError(f"labels must be in [-1, {len(class_names) - 1}] (-1 = unlabelled), "
                         f"got values in [{y.min()}, {y.max()}]")
    points = project_2d(features, method, seed)

    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    fig = new_figure(EMBEDDING_INCHES)
    ax = fig.add_subplot()
    present = [int(c) for c in np.unique(y) if c >= 0]
    for c in present:
        mask = y == c
        ax.scatter(points[mask, 0], points[mask, 1], s=14, color=cmap(c % cmap.N), label=" ".join(str(class_names[c]).split()),
                   linewidths=0)
    if (y < 0).any():
        mask = y < 0
        ax.scatter(points[mask, 0], points[mask, 1], s=10, color=UNLABELLED_COLOUR, label="unlabelled",
                   linewidths=0)
    name = "t-SNE" if method == "tsne" else "PCA"
    ax.set_title(f"{title} ({name}, {len(y)} points)" if title else f"{name} of {len(y)} embeddings", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(present) <= MAX_LEGEND_CLASSES:
        fig.legend(loc="outside right upper", fontsize=7, markerscale=1.5, frameon=False)
    return fig


def longtail_figure(metrics: Mapping[str, float], title: str = "") -> Figure:
    """Bars of head / medium / tail kNN top-1 (percent), and ``knn_top1`` as a dashed line.

    ``metrics`` must hold ``head_top1``, ``medium_top1`` and ``tail_top1`` (ssl_core.eval.longtail:
    classes split into terciles by train count); ``knn_top1`` is optional. A NaN group (no
    query of that group) draws no bar and is labelled ``n/a``.
    """
    missing = [k for k in GROUPS if k not in metrics]
    if missing:
        raise ValueError(f"longtail_figure needs {', '.join(GROUPS)}; missing {', '.join(missing)}")
    heights = [float(metrics[k]) for k in GROUPS]
    fig = new_figure(LONGTAIL_INCHES)
    ax = fig.add_subplot()
    bars = ax.bar(["head", "medium", "tail"], heights, color=["#4c72b0", "#dd8452", "#c44e52"])
    for bar, value in zip(bars, heights):
        text = "n/a" if not np.isfinite(value) else f"{value:.1f}"
        y = value if np.isfinite(value) else 0.0
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, y), xytext=(0, 3), textcoords="offset points",
                    ha="center", fontsize=8)
    if "knn_top1" in metrics and np.isfinite(float(metrics["knn_top1"])):
        ax.axhline(float(metrics["knn_top1"]), color="black", linestyle="--", linewidth=1,
                   label=f"all classes {float(metrics['knn_top1']):.1f}")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_ylim(0, 105)  # percent; headroom for the value labels
    ax.set_ylabel("kNN top-1 (%)")
    ax.set_xlabel("classes by train frequency (terciles)")
    ax.set_title(title or "accuracy by class frequency", fontsize=10)
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``DPI`` (pixels = inches x DPI), atomically; then close it.

    The PNG goes to a temporary file in the same directory and is renamed over ``path``
    (``os.replace`` is atomic on one file system), so TensorBoard or a user never reads a
    partial image. Returns ``path``.
    """
    path = Path(path)
    with atomic_file(path, binary=True) as handle:
        fig.savefig(handle, format="png", dpi=DPI)
    if "matplotlib.pyplot" in sys.modules:
        # Only figures made through pyplot are registered there; ours are not, and this is a no-op.
        sys.modules["matplotlib.pyplot"].close(fig)
    return path
