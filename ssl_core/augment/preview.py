"""See what the augmentations do before searching over them.

``python -m ssl_core.augment.preview --data birdsong --set augment.noise_snr_db=10 --pairs 4 --out preview.png``

Loads the dataset as the trainer does (``load_config`` -> ``load_and_split`` -> the train
split's ``AudioCropDataset`` / ``ImageDataset`` -> ``build_view_maker``), makes two augmented
views of a few items and draws a grid: one row per item, columns clean input | view 1 |
view 2 (| local views when ``augment.num_local_crops`` > 0). Spectrograms are drawn with
low frequencies at the bottom. ``--tensorboard DIR`` writes the same figure as an image
event (tag ``augment/preview``). Everything is seeded (``--seed``, default
``train.seed``): the same command draws the same picture.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ssl_core.config import Config, ConfigError, load_config

DPI = 100
HEADER_INCHES = 0.5  # room for the figure title (dataset and overrides)
PANEL_INCHES = {"audio": (2.5, 1.5), "image": (1.5, 1.75)}  # width, height of one panel; whole pixels at DPI
TAG = "augment/preview"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ssl_core.augment.preview", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML file with only the keys that differ from the defaults")
    p.add_argument("--data", help="embedded dataset name (birdsong, birdsong-x2 ... birdsong-x16, digits) "
                                  "or a dataset directory")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set augment.noise_snr_db=10 (repeatable)")
    p.add_argument("--pairs", type=int, default=4, help="items (rows), each drawn with two views (default 4)")
    p.add_argument("--out", default="preview.png", help="PNG file to write (default preview.png)")
    p.add_argument("--tensorboard", metavar="DIR", help="also write the figure to TensorBoard events in DIR")
    p.add_argument("--seed", type=int, help="seed for crops and augmentations (default: train.seed)")
    return p.parse_args(argv)


def figure_inches(rows: int, cols: int, modality: str) -> tuple[float, float]:
    """Figure size in inches; the PNG is ``DPI`` times this, in pixels."""
    width, height = PANEL_INCHES[modality]
    return cols * width, rows * height + HEADER_INCHES


def pick_items(labels: np.ndarray, count: int) -> list[int]:
    """Positions of ``count`` items that cover as many classes as possible, deterministically.

    Round robin over classes in label order, taking each class's items in split order: the
    first item of every class, then the second, ... Splits list items by index, and indexes
    are usually grouped by class, so simply the first N items would often show one class.
    """
    if not 1 <= count <= len(labels):
        raise ValueError(f"--pairs must be in [1, {len(labels)}] (items in the train split), got {count}")
    by_class = [np.flatnonzero(labels == c).tolist() for c in np.unique(labels)]
    picked: list[int] = []
    for rank in range(max(len(members) for members in by_class)):
        for members in by_class:
            if rank < len(members) and len(picked) < count:
                picked.append(members[rank])
    return picked


def load_batch(cfg: Config, count: int, seed: int) -> tuple[Tensor, list[str], str, "torch.nn.Module"]:
    """``count`` train items, their class names, the modality and the configured view maker.

    Audio: ``[N, V, T]`` float waveforms, crops drawn with sample seed ``seed * 1_000_003 + i``
    (as the epoch sampler's per-item seeds); images: ``[N, C, H, W]`` uint8.
    """
    from ssl_core.data_pipeline import build_dataset, build_view_maker, load_and_split

    index, splits = load_and_split(cfg)
    train_ids = splits["train"]
    labels = index.labels()[train_ids]
    positions = pick_items(labels, count)
    # The trainer's own data path: same decode cache, crops and window weighting.
    dataset = build_dataset(cfg, index, train_ids, train=True, num_crops=cfg.data.crops_per_item)
    if index.modality == "audio":
        samples = [dataset[(pos, seed * 1_000_003 + pos)] for pos in positions]
    else:
        samples = [dataset[pos] for pos in positions]
        shapes = {tuple(x.shape) for x, _ in samples}
        if len(shapes) > 1:
            raise ValueError(f"images of different sizes {sorted(shapes)} cannot be batched; the trainer needs one size too")
    x = torch.stack([sample for sample, _ in samples])
    names = [index.class_names[label] if label >= 0 else "unlabelled" for _, label in samples]
    return x, names, index.modality, build_view_maker(cfg, index)


def make_views(view_maker: "torch.nn.Module", x: Tensor, modality: str) -> list[Tensor]:
    """Clean input first, then the augmented views: each ``[N, C, H, W]`` float on the CPU."""
    clean = view_maker.embed_input(x[:, 0] if modality == "audio" else x)
    return [clean] + list(view_maker(x, num_global=2))


def _to_picture(view: Tensor, modality: str, view_maker: "torch.nn.Module") -> np.ndarray:
    """One example ``[C, H, W]`` -> an array imshow can draw (spectrogram [F, T] or image in [0, 1])."""
    if modality == "audio":
        return view[0].numpy()
    frontend = view_maker.frontend  # undo the normalisation so the image looks like the data
    pixels = (view * frontend.std[0].cpu() + frontend.mean[0].cpu()).clamp(0.0, 1.0)
    return pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()


def column_headers(cols: int, crops: int) -> list[str]:
    """Column titles; says which waveform crop a view comes from when there are several."""
    def source(view: int) -> str:
        return f" (crop {view % crops + 1})" if crops > 1 else ""

    headers = ["clean" + source(0), "view 1" + source(0), "view 2" + source(1)]
    # Local view j is cut from global view (j - 1) % 2 (see AudioViewMaker).
    return headers + [f"local {j}" + source((j - 1) % 2) for j in range(1, cols - 2)]


def draw(views: list[Tensor], names: list[str], modality: str, view_maker: "torch.nn.Module", title: str,
         crops: int = 1):
    """The grid as a matplotlib Figure: rows = items, columns = clean | view 1 | view 2 | local views.

    ``crops``: distinct waveform crops per item (audio); view i comes from crop ``i % crops``.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    rows, cols = len(names), len(views)
    headers = column_headers(cols, crops)
    size = figure_inches(rows, cols, modality)
    fig, axes = plt.subplots(rows, cols, figsize=size, dpi=DPI, squeeze=False, layout="constrained")
    # Two lines fit in the header; 9 pt text runs about 14 characters per inch.
    lines = textwrap.wrap(title, width=int(size[0] * 13), max_lines=2, placeholder=" ...")
    fig.suptitle("\n".join(lines), fontsize=9)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            picture = _to_picture(views[c][r], modality, view_maker)
            if modality == "audio":
                # Limits per panel: every view uses its full colour range, none saturates.
                ax.imshow(picture, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                          vmin=float(picture.min()), vmax=float(picture.max()))
            else:
                ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0.0, vmax=1.0,
                          interpolation="nearest")
            ax.set_title(f"{names[r]} | {headers[c]}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        if modality == "audio":
            axes[r, 0].set_ylabel("mel band", fontsize=7)
    if modality == "audio":
        for ax in axes[-1]:
            ax.set_xlabel("time", fontsize=7)
    return fig


def preview(cfg: Config, count: int, out: Path, tensorboard_dir: Path | None, seed: int, title: str) -> Path:
    """Write the preview PNG (and the TensorBoard image when ``tensorboard_dir``); returns the PNG path."""
    torch.manual_seed(seed)  # the view maker draws from the global RNG
    x, names, modality, view_maker = load_batch(cfg, count, seed)
    views = make_views(view_maker, x, modality)
    fig = draw(views, names, modality, view_maker, title, crops=x.shape[1] if modality == "audio" else 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)  # no bbox_inches="tight": the size stays figure_inches * DPI
    if tensorboard_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(tensorboard_dir)) as writer:
            writer.add_figure(TAG, fig, global_step=0, close=False)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = ([f"data.dataset={args.data}"] if args.data else []) + list(args.overrides)
    try:
        cfg = load_config(args.config, overrides)
        seed = cfg.train.seed if args.seed is None else args.seed
        title = f"{cfg.data.dataset}: " + (", ".join(args.overrides) if args.overrides else "default augmentations")
        out = preview(cfg, args.pairs, Path(args.out), Path(args.tensorboard) if args.tensorboard else None, seed,
                      title)
    except (ConfigError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}" + (f" and TensorBoard tag {TAG} under {args.tensorboard}" if args.tensorboard else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
