"""The trainer under a real two-process gloo group (as Ray Train runs it): DDP trains, both
ranks report the same metrics, and those equal a one-process evaluation of the checkpoint,
because the metrics are computed over the union of both ranks' embeddings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ssl_core.checkpoint import read_checkpoint
from ssl_core.data_pipeline import build_data
from ssl_core.eval_runner import Evaluator
from ssl_core.trainer import build_model, train
from tests.loopback import free_loopback_port
from tests.tiny import tiny_config

WORLD = 2



def _config(run_dir: Path):
    # Batch 16 over 2 workers: 8 items per rank per step; odd split sizes exercise shard padding.
    return tiny_config("simclr", run_dir, epochs=1, steps=4, extra=("eval.linear_probe=never",))


def _worker(rank: int, port: int, run_dir: str, cache: str) -> None:
    os.environ["SSL_SEARCH_CACHE"] = cache
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        reports = []
        train(_config(Path(run_dir)), run_dir=run_dir,
              report=lambda m, ckpt: reports.append({"metrics": m, "checkpoint": str(ckpt) if ckpt else None}))
        Path(run_dir, f"rank{rank}.json").write_text(json.dumps(reports))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_workers_train_and_report_metrics_of_the_whole_split(tmp_path, birdsong_root, data_cache) -> None:
    mp.spawn(_worker, args=(free_loopback_port(), str(tmp_path), str(data_cache)), nprocs=WORLD, join=True)
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    rank1 = json.loads((tmp_path / "rank1.json").read_text())
    assert len(rank0) == len(rank1) == 1
    timing = {"epoch_seconds", "samples_per_s", "train_seconds"}  # each worker times itself
    same = {k: v for k, v in rank0[0]["metrics"].items() if k not in timing}
    assert same == {k: v for k, v in rank1[0]["metrics"].items() if k not in timing}, "all ranks report one set"
    assert rank0[0]["checkpoint"] is not None and rank1[0]["checkpoint"] is None

    # One process, the same checkpoint, the same evaluation.
    cfg = _config(tmp_path)
    device = torch.device("cpu")
    data = build_data(cfg, 0, 1, device)
    method = build_model(cfg, data, device)
    method.load_state_dict(read_checkpoint(Path(rank0[0]["checkpoint"]))["model"])
    single = Evaluator(cfg, data, device).run(method, epoch=1, final=True)
    distributed = rank0[0]["metrics"]
    for name in ("knn_top1", "knn_top5", "head_top1", "medium_top1", "tail_top1"):
        assert distributed[name] == pytest.approx(single[name], abs=1e-9), name
    for name in ("emb_std", "eff_rank", "uniform", "ari", "nmi", "silhouette", "davies_bouldin"):
        assert distributed[name] == pytest.approx(single[name], rel=1e-4), name
    # `align` is left out: it compares two *random* augmentations of each item, and each rank
    # draws its own, so it is a fresh sample on every evaluation, not a property of the checkpoint.
