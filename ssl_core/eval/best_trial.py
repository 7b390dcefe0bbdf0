"""Load a trial's checkpoint and embed its test split, for the figures and the Projector.

``embed_test_split(checkpoint_dir)`` rebuilds the run exactly as the trainer did (the
checkpoint's ``config.yaml`` -> ``build_data`` -> ``build_model`` -> its weights) and returns
the test split's evaluation features (deterministic windows, the features kNN is scored
on) with labels and class names, plus two augmented views of a few test items.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import yaml
from torch import Tensor

from ssl_core.checkpoint import read_checkpoint
from ssl_core.config import Config, config_from_dict

if TYPE_CHECKING:
    from ssl_core.data_pipeline import DataBundle

DEFAULT_PAIRS = 4


def pick_items(labels: np.ndarray, count: int) -> list[int]:
    """Positions of up to ``count`` items covering as many classes as possible, deterministically.

    Round robin over the classes in label order (each class's first item, then each one's
    second, ...): splits are often grouped by class, so the first items would show one class.
    """
    by_class = [np.flatnonzero(labels == c).tolist() for c in np.unique(labels)]
    picked: list[int] = []
    for rank in range(max((len(m) for m in by_class), default=0)):
        for members in by_class:
            if rank < len(members) and len(picked) < count:
                picked.append(members[rank])
    return picked


@torch.no_grad()
def view_pairs_for(cfg: Config, data: "DataBundle", item_ids: np.ndarray, seed: int,
                   device: torch.device) -> Tensor:
    """Two augmented views of each item, as training makes them: ``[P, 2, C, H, W]`` on the CPU.

    Audio: log-mel views flipped so that low frequencies are in the last row (drawn at the
    bottom, as spectrograms are read); images: the normalisation undone, clamped to [0, 1].
    """
    from ssl_core.data_pipeline import build_dataset

    dataset = build_dataset(cfg, data.index, item_ids, train=True, num_crops=cfg.data.crops_per_item)
    audio = data.index.modality == "audio"
    # Audio datasets take (position, crop seed) keys, as the epoch sampler hands them out.
    samples = [dataset[(i, seed * 1_000_003 + i)] if audio else dataset[i] for i in range(len(item_ids))]
    x = torch.stack([s for s, _ in samples])
    torch.manual_seed(seed)  # the view maker draws from the global RNG: the same pairs every time
    first, second = data.view_maker(x.to(device), num_global=2)[:2]
    views = torch.stack([first, second], dim=1).float().cpu()
    if audio:
        return views.flip(-2)
    frontend = data.view_maker.frontend
    mean, std = frontend.mean[0].cpu(), frontend.std[0].cpu()  # [C, 1, 1]
    return (views * std + mean).clamp(0.0, 1.0)


def embed_test_split(checkpoint_dir: Path, max_pairs: int = DEFAULT_PAIRS,
                     device: torch.device | None = None) -> tuple[Tensor, Tensor, list[str], Tensor | None]:
    """The test split of a checkpoint's run, embedded by its model.

    Args:
        checkpoint_dir: a trainer checkpoint (``state.pt`` + ``config.yaml``), e.g. a trial's
            ``ssl/checkpoints/best``.
        max_pairs: items whose two augmented views are returned (0: none).
        device: where to run the model (default CPU, as ``evaluate_on_test``).

    Returns:
        ``features [N, F]`` float32 (``eval.features`` of the config: what kNN scores),
        ``labels [N]`` int64 (-1 = unlabelled), ``class_names`` (indexed by label), and
        ``view_pairs [P, 2, C, H, W]`` float32 for P = min(max_pairs, N) test items
        (None when max_pairs is 0), all on the CPU.
    """
    from ssl_core.data_pipeline import build_data
    from ssl_core.eval.evaluate import embed_loader, eval_encoder
    from ssl_core.eval_runner import Evaluator
    from ssl_core.trainer import build_model

    if not isinstance(max_pairs, int) or max_pairs < 0:
        raise ValueError(f"max_pairs must be an integer >= 0, got {max_pairs!r}")
    checkpoint_dir = Path(checkpoint_dir)
    device = device or torch.device("cpu")
    state = read_checkpoint(checkpoint_dir)
    cfg = config_from_dict(yaml.safe_load((checkpoint_dir / "config.yaml").read_text()))
    cfg.data.num_workers = 0
    cfg.eval.views_for_align = False  # only the clean test embeddings are needed here
    data = build_data(cfg, 0, 1, device)
    test_ids = data.splits["test"]
    if len(test_ids) == 0:
        raise ValueError(f"the test split of {data.index.name!r} is empty; raise data.split_fractions[2] "
                         "or give a fold_map with a test fold")
    method = build_model(cfg, data, device)
    method.load_state_dict(state["model"])
    method.eval()
    evaluator = Evaluator(cfg, data, device, query_split="test")
    queries = embed_loader(eval_encoder(method, cfg.eval.features), evaluator.query_loader,
                           data.view_maker.embed_input, device)
    labels = queries.labels.cpu()
    pairs = None
    if max_pairs:
        positions = pick_items(labels.numpy(), min(max_pairs, len(test_ids)))
        pairs = view_pairs_for(cfg, data, test_ids[positions], seed=cfg.train.seed, device=device)
    return queries.features.float().cpu(), labels, list(data.index.class_names), pairs
