"""The best trial's TensorBoard report: Projector embeddings, augmented view pairs, figures.

Written with ``torch.utils.tensorboard.SummaryWriter`` into one log directory (put it under
the experiment directory, e.g. ``<experiment>/best_trial``, so that ``tensorboard --logdir
<experiment>`` shows it beside the trials):

* ``best_trial/test_embeddings``: the test split's embeddings in the Projector, each point's
  class name as metadata (``projector_config.pbtxt`` + ``00000/<tag>/{tensors,metadata}.tsv``);
* ``best_trial/view_pairs``: one image, a row per item, its two augmented views side by side;
* ``best_trial/<name>``: each matplotlib figure, as an image.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

EMBEDDING_TAG = "best_trial/test_embeddings"
VIEWS_TAG = "best_trial/view_pairs"
FIGURE_PREFIX = "best_trial/"
GAP = 2  # pixels of white between panels, so the two views read as separate pictures
MIN_PANEL_HEIGHT = 96  # 8x8 digits or 32x32 crops are unreadable at their own size in the dashboard


def normalise_each(images: Tensor) -> Tensor:
    """Min-max scale every image to [0, 1]: ``[..., C, H, W] -> same shape``, float32.

    Each image is scaled on its own (log-mel dB values and mean/std-normalised pixels have
    no fixed range); a constant image becomes 0.5 grey instead of dividing by zero.
    """
    x = images.detach().float().cpu()
    flat = x.flatten(start_dim=-3)
    low = flat.amin(dim=-1, keepdim=True)
    span = flat.amax(dim=-1, keepdim=True) - low
    scaled = torch.where(span > 0, (flat - low) / span.clamp_min(torch.finfo(torch.float32).tiny),
                         torch.full_like(flat, 0.5))
    return scaled.reshape(x.shape)


def view_pair_grid(view_pairs: Tensor) -> Tensor:
    """``[P, 2, C, H, W]`` (any range) -> one ``[C, H', W']`` image in [0, 1] for ``add_image``.

    Row p holds pair p: view 1, a ``GAP``-pixel white gap, view 2; rows are separated by the
    same gap. Panels smaller than ``MIN_PANEL_HEIGHT`` rows are enlarged by an integer factor
    (nearest neighbour, so no pixel is invented). Spectrograms are drawn as given: pass
    them with the low frequencies in the last row (flipped) to see them the usual way up.
    """
    if view_pairs.dim() != 5 or view_pairs.shape[1] != 2 or view_pairs.shape[0] < 1:
        raise ValueError(f"view_pairs must be [P, 2, C, H, W] with P >= 1, got shape {tuple(view_pairs.shape)}")
    if view_pairs.shape[2] not in (1, 3):
        raise ValueError(f"view_pairs must have 1 (spectrogram, grey) or 3 (RGB) channels, got {view_pairs.shape[2]}")
    x = normalise_each(view_pairs)
    p, _, c, h, w = x.shape
    factor = max(1, -(-MIN_PANEL_HEIGHT // h))  # ceil division
    if factor > 1:
        x = F.interpolate(x.reshape(p * 2, c, h, w), scale_factor=factor, mode="nearest").reshape(
            p, 2, c, h * factor, w * factor)
        h, w = h * factor, w * factor
    grid = torch.ones(c, p * h + (p - 1) * GAP, 2 * w + GAP)
    for i in range(p):
        top = i * (h + GAP)
        grid[:, top:top + h, :w] = x[i, 0]
        grid[:, top:top + h, w + GAP:] = x[i, 1]
    return grid


def _metadata(labels: Tensor, class_names: Sequence[str]) -> list[str]:
    """Class name of every point; tabs and newlines would break the Projector's TSV."""
    y = labels.detach().cpu().long().tolist()
    bad = [v for v in y if not -1 <= v < len(class_names)]
    if bad:
        raise ValueError(f"labels must be in [-1, {len(class_names) - 1}] (-1 = unlabelled), got {bad[:5]}")
    return [" ".join(str(class_names[v]).split()) if v >= 0 else "unlabelled" for v in y]


def _clear_previous(log_dir: Path) -> None:
    """Remove an earlier report in ``log_dir`` (event files, projector files), so that writing
    the report again (e.g. after a resumed search) replaces it rather than doubling it.

    Only a directory that holds an earlier report (its projector config names our tag) is
    touched, so a log_dir pointed by mistake at someone else's events loses nothing."""
    config = log_dir / "projector_config.pbtxt"
    if not (config.is_file() and EMBEDDING_TAG in config.read_text()):
        return
    for event in log_dir.glob("events.out.tfevents.*"):
        event.unlink()
    config.unlink()
    # SummaryWriter.add_embedding stores step 0 of a tag in "00000/<tag, "/" written "%2f">".
    embedding_dir = log_dir / "00000" / EMBEDDING_TAG.replace("%", "%25").replace("/", "%2f")
    if embedding_dir.is_dir():
        shutil.rmtree(embedding_dir)


def write_best_trial_report(log_dir: Path, features: Tensor, labels: Tensor, class_names: Sequence[str],
                            view_pairs: Tensor | None, figures: Mapping[str, Figure]) -> Path:
    """Write the best trial's Projector embeddings, view pairs and figures to TensorBoard.

    Args:
        log_dir: a directory this report owns (an earlier report in it is replaced).
        features: [N, F] test-split embeddings, as the kNN evaluation sees them.
        labels: [N] class indices into ``class_names`` (-1 = unlabelled).
        class_names: name of every class.
        view_pairs: [P, 2, C, H, W] two augmented views of P items, any range (each view is
            min-max scaled for display), C = 1 (spectrogram) or 3; None to skip.
        figures: name -> Figure, each written as the image ``best_trial/<name>`` (figures
            are not closed, so they can still be saved as PNG afterwards).

    Returns:
        ``log_dir``.
    """
    from torch.utils.tensorboard import SummaryWriter

    if features.dim() != 2 or features.shape[0] < 1:
        raise ValueError(f"features must be [N, F] with N >= 1, got shape {tuple(features.shape)}")
    if labels.dim() != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(f"labels must be [N] with N = {features.shape[0]} (rows of features), "
                         f"got shape {tuple(labels.shape)}")
    metadata = _metadata(labels, class_names)
    grid = view_pair_grid(view_pairs) if view_pairs is not None else None
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous(log_dir)
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        writer.add_embedding(features.detach().float().cpu(), metadata=metadata, tag=EMBEDDING_TAG, global_step=0)
        if grid is not None:
            writer.add_image(VIEWS_TAG, grid, global_step=0, dataformats="CHW")
        for name, fig in figures.items():
            writer.add_figure(FIGURE_PREFIX + name, fig, global_step=0, close=False)
    finally:
        writer.close()
    return log_dir
