"""Periodic evaluation during training: the batches of the bank, the queries and the align pairs.

Built once per run; ``run(method, epoch, final)`` embeds the train split (the kNN bank)
and the val split on every worker's shard, gathers them, computes the metrics on rank 0
and hands the same dict to every rank.

Where the batches come from follows the train data's placement (``data.placement``,
``data.device_data_gb``): evaluation inputs never change, so when the train split is held on
the device and the evaluation batches fit in what is left of the budget, they are cut once
(:mod:`ssl_core.data.eval_batches`) and every evaluation reads them there (no loader
processes, no per-item Python, no copy per batch); otherwise loaders feed each evaluation.
Both give the same batches, so the same metrics.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ssl_core.config import Config
from ssl_core.data import EpochSampler
from ssl_core.data.eval_batches import HeldBatches, hold_batches
from ssl_core.data_pipeline import GB, MAX_EVAL_WINDOWS, DataBundle, make_loader
from ssl_core.distributed import broadcast_object, rank, sync_buffers, world_size
from ssl_core.eval_shortcut import shortcut_probe_for
from ssl_core.eval.evaluate import (SplitEmbeddings, embed_loader, embedding_metrics, eval_encoder,
                                    finite_or_nan, labels_tensor)


class Evaluator:
    def __init__(self, cfg: Config, data: DataBundle, device: torch.device, query_split: str = "val",
                 bank: SplitEmbeddings | None = None) -> None:
        """``bank``: the train split already embedded by this network (a checkpoint's saved bank,
        :mod:`ssl_core.bank_cache`), used instead of embedding it again."""
        self.cfg, self.data, self.device = cfg, data, device
        self.query_split = query_split
        self.given_bank = bank
        self.last_bank: SplitEmbeddings | None = None  # the bank of the latest ``embed``, for the checkpoint
        batch = max(1, cfg.data.batch_size // world_size())

        def loader(split: str, train: bool, crops: int, windows: bool = False):
            sampler = EpochSampler(len(data.splits[split]), seed=cfg.train.seed + 7919, shuffle=False,
                                   rank=rank(), world_size=world_size())
            sampler.set_epoch(0)
            # Up to MAX_EVAL_WINDOWS windows per recording go through the model together.
            size = max(1, batch // MAX_EVAL_WINDOWS) if windows and cfg.data.eval_windows == "mean" else batch
            return make_loader(cfg, data.index, data.splits[split], train=train, batch_size=size,
                               num_crops=crops, sampler=sampler, drop_last=False, device=device, windows=windows)

        # Evaluation inputs are deterministic: the centre window, or the mean over windows.
        self.bank_loader = loader("bank", train=False, crops=1, windows=True)
        self.query_loader = loader(query_split, train=False, crops=1, windows=True)
        # Two augmented views of each query item (fixed crop seeds) for the `align` metric.
        self.align_loader = loader(query_split, train=True, crops=cfg.data.crops_per_item) \
            if cfg.eval.views_for_align else None
        self.train_labels = labels_tensor(data.split_labels("bank"))
        self.bank_batches, self.query_batches, self.align_batches = self.bank_loader, self.query_loader, \
            self.align_loader
        self.placement, why = self._hold_on_device()
        if getattr(data, "announce", False):
            print(f"evaluation data: {self.placement} ({why})", flush=True)

    def _hold_on_device(self) -> tuple[str, str]:
        """Cut the evaluation batches once and hold them on the device when the train split is
        held there and they fit in the rest of ``data.device_data_gb``: ``(placement, why)``."""
        train = self.data.train_batches
        if self.cfg.data.placement == "loader":
            return "loader", f"data.placement=loader, {self.cfg.data.num_workers} loader processes per split"
        if train.placement != "device":
            return "loader", f"the train split is in loader processes; {self.cfg.data.num_workers} per split"
        budget = self.cfg.data.device_data_gb * GB - getattr(train, "nbytes", 0)
        loaders = {"bank": self.bank_loader, "queries": self.query_loader, "align": self.align_loader}
        held: dict[str, HeldBatches] = {}
        for name, loader in loaders.items():
            if loader is None:
                continue
            batches = hold_batches(loader, self.device, budget - sum(h.nbytes for h in held.values()))
            if batches is None:
                return "loader", (f"the evaluation batches need more than the {budget / GB:.3f} GB left of "
                                  f"data.device_data_gb={self.cfg.data.device_data_gb} after the train split")
            held[name] = batches
        self.bank_batches, self.query_batches = held["bank"], held["queries"]
        self.align_batches = held.get("align")
        size = sum(h.nbytes for h in held.values())
        return "device", f"{size / GB:.3f} GB on {self.device}, cut once: {', '.join(held)}"

    def _prepare(self, x: Tensor) -> Tensor:
        """Deterministic evaluation input: audio windows ``[N, T] -> [N, 1, M, F]``; images resized."""
        return self.data.view_maker.embed_input(x)

    @torch.no_grad()
    def embed(self, method: nn.Module) -> tuple[SplitEmbeddings, SplitEmbeddings, Tensor | None]:
        encode = eval_encoder(method, self.cfg.eval.features)
        bank = self.given_bank if self.given_bank is not None else \
            embed_loader(encode, self.bank_batches, self._prepare, self.device)
        self.last_bank = bank
        queries = embed_loader(encode, self.query_batches, self._prepare, self.device)
        other_view = None
        if self.align_batches is not None:
            # One pass, both views of one view-maker call (two passes each made both views and
            # kept one, loading and augmenting every align item twice).
            pair = embed_loader(encode, self.align_batches, lambda x: self.data.view_maker(x)[:2], self.device)
            # align compares two augmented views of the same items; uniform/emb_std use clean queries.
            first, second = pair.features.chunk(2, dim=1)
            other_view = (first, second)
        return bank, queries, other_view

    def leave_one_out(self) -> bool:
        """``eval.queries=train+val`` during training, for methods that never see labels: the kNN
        scores query the train split too, leave-one-out (:mod:`ssl_core.eval.knn_loo`). The test
        split, and label-using methods (they learned the train labels), keep their own queries."""
        from ssl_core.methods import METHODS

        return (self.cfg.eval.queries == "train+val" and self.query_split == "val"
                and not METHODS[self.cfg.method.name].uses_labels)

    def _shortcut_metrics(self, method: nn.Module) -> dict[str, float]:
        """``recording_share`` and its chance level (:mod:`ssl_core.eval.shortcut`); {} for images."""
        if not hasattr(self, "_shortcut"):  # the windows are cut once per run, at the first evaluation
            self._shortcut = shortcut_probe_for(self.cfg, self.data, self.query_split)
            if self._shortcut is not None and self.placement == "device":
                # Held beside the other evaluation batches (its chunks are then no copies).
                self._shortcut.windows = self._shortcut.windows.to(self.device)
        if self._shortcut is None:
            return {}
        return self._shortcut.measure(eval_encoder(method, self.cfg.eval.features), self._prepare, self.device)

    def run(self, method: nn.Module, epoch: int, final: bool) -> dict[str, float]:
        was_training = method.training
        sync_buffers(method)  # every rank embeds with rank 0's model, the one checkpointed
        method.eval()
        bank, queries, views = self.embed(method)
        # Every rank measures the probe (the same small set of windows) so no rank waits on another.
        shortcut = self._shortcut_metrics(method)
        metrics: dict[str, float] | None = None
        if rank() == 0:
            probe = self.cfg.eval.linear_probe == "every" or (final and self.cfg.eval.linear_probe == "final")
            metrics = embedding_metrics(
                bank, queries, self.data.num_classes, k=self.cfg.eval.knn_k,
                temperature=self.cfg.eval.knn_temperature, train_labels_for_groups=self.train_labels,
                clustering=self.cfg.eval.clustering, linear_probe=probe, seed=self.cfg.train.seed,
                leave_one_out=self.leave_one_out(), backbone_features=self.cfg.eval.features == "backbone")
            metrics.update(shortcut)
            if views is not None:
                from ssl_core.eval.collapse import alignment

                metrics["align"] = float(alignment(views[0], views[1]))
            # Context the search needs to judge collapse from the metrics alone.
            metrics["chance_top1"] = 100.0 / self.data.num_classes
            metrics["feature_dim"] = float(queries.features.shape[1])
            metrics = finite_or_nan(metrics)
        method.train(was_training)
        return dict(broadcast_object(metrics))
