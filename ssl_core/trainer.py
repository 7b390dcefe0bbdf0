"""The per-worker training loop: one function, usable with or without Ray.

``train(cfg, report=...)`` trains the configured method, evaluates every
``eval.every_epochs`` epochs, writes a checkpoint there (and ``checkpoints/best`` when the
objective, ``eval.objective``, is at its best so far: :mod:`ssl_core.objective`) and calls
``report(metrics, checkpoint_dir)`` on every worker (rank 0 passes the checkpoint,
the others ``None``, which is what Ray Train expects). Under Ray Train or torchrun
the process group already exists and the method is wrapped in DDP. The run folder's
layout is :mod:`ssl_core.run`'s.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ssl_core.bank_cache import BANK_FILE, bank_payload
from ssl_core.checkpoint import list_checkpoints, prune_checkpoints, read_checkpoint, write_checkpoint
from ssl_core.config import Config
from ssl_core.data_pipeline import DataBundle, build_data
from ssl_core.distributed import all_reduce_mean, is_distributed, rank, world_size
from ssl_core.eval_runner import Evaluator
from ssl_core.memory import apply_memory_limit
from ssl_core.methods import Method, build_method
from ssl_core.models import create_backbone, timm_global_pool
from ssl_core.objective import is_improvement
from ssl_core.optim import build_optimizer, build_scheduler
from ssl_core.progress import Progress
from ssl_core.run_layout import best_checkpoint, checkpoints_dir, epoch_checkpoint, tensorboard_dir
from ssl_core.tensorboard_log import ScalarLog

ReportFn = Callable[[dict[str, float], "Path | None"], None]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message says where and what to change."""


def resolve_device(cfg: Config) -> torch.device:
    if cfg.train.device == "auto":
        if torch.cuda.is_available():
            # Under Ray Train / torchrun each worker owns the GPU of its local rank.
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    device = torch.device(cfg.train.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={cfg.train.device!r} but no CUDA device is visible; use auto or cpu")
    return device


def autocast_context(cfg: Config, device: torch.device):
    precision = cfg.train.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def use_channels_last(cfg: Config, device: torch.device) -> bool:
    """Whether the model and its views are channels-last (NHWC) on ``device``.

    ``auto`` is on for CUDA (tensor-core convolutions want NHWC) and for the CPU, where oneDNN's
    convolutions run NHWC natively: measured with ``bench/step_ab.py`` on 2 CPU cores, resnet10t
    on birdsong, 8 ABBA rounds, B / A time 0.86 (95 % CI 0.80..0.92) for training steps and
    0.72 (0.69..0.76) for an evaluation, losses equal to 1e-5 (docs/design.md, Decisions).
    """
    return cfg.train.channels_last == "on" or (cfg.train.channels_last == "auto" and device.type in ("cuda", "cpu"))


def build_model(cfg: Config, data: DataBundle, device: torch.device) -> Method:
    backbone = create_backbone(cfg.model.backbone, in_chans=data.in_chans,
                               global_pool=timm_global_pool(cfg.model.global_pool, data.index.modality))
    if cfg.model.init_backbone:  # fine-tuning: start from an exported backbone (heads stay random, seeded)
        from ssl_core.export import load_backbone_weights

        load_backbone_weights(backbone, cfg.model.init_backbone)
    method = build_method(cfg.method.name, backbone, backbone.num_features, cfg.model, cfg.method,
                          data.num_classes)
    method.configure_schedule(data.steps_per_epoch, data.steps_per_epoch * cfg.train.epochs)
    method = method.to(device)
    if use_channels_last(cfg, device):
        method = method.to(memory_format=torch.channels_last)
    if cfg.train.compile:
        # In place (nn.Module.compile): parameter names and state_dict keys stay those of the
        # plain backbone, so checkpoints, the exported backbone and resumption are unchanged.
        # Only the backbone: heads are a few matmuls and EMA targets are copies updated in
        # place, where compiling buys nothing and guards would recompile after every update.
        method.backbone.compile()
    return method


def _rng_state(device: torch.device) -> dict[str, Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(checkpoints_dir(run_dir))
    return found[-1] if found else None


def train(cfg: Config, report: ReportFn | None = None, run_dir: str | Path | None = None,
          resume_from: str | Path | None = None,
          step_callback: Callable[[int, float, dict], None] | None = None) -> dict[str, float]:
    """Train ``cfg.method`` on ``cfg.data``; return the last evaluation's metrics.

    ``run_dir`` (default ``cfg.train.output_dir``) receives ``checkpoints/`` and
    ``tensorboard/``. ``resume_from`` is a checkpoint directory (or ``"latest"`` for the
    newest under ``run_dir``): training continues exactly where it stopped.
    ``step_callback(global_step, loss, logs)`` is called after every optimiser step (tests).
    """
    cfg.validate()
    run_dir = Path(run_dir or cfg.train.output_dir)
    device = resolve_device(cfg)
    apply_memory_limit(cfg, device)
    this_rank, world = rank(), world_size()
    torch.manual_seed(cfg.train.seed)  # identical init on every rank; DDP broadcasts rank 0's anyway

    data = build_data(cfg, this_rank, world, device, report_dir=run_dir if this_rank == 0 else None)
    method = build_model(cfg, data, device)
    optimizer = build_optimizer(method, cfg.optim, cfg.data.batch_size)
    scheduler = build_scheduler(optimizer, cfg.optim, data.steps_per_epoch, cfg.train.epochs)
    evaluator = Evaluator(cfg, data, device)

    start_epoch, best = 0, math.nan  # best objective after epoch 0; nan: none yet
    if resume_from == "latest":
        resume_from = latest_checkpoint(run_dir)
    if resume_from is not None:
        state = read_checkpoint(Path(resume_from), map_location=device)
        method.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best = int(state["epoch"]), float(state.get("best_objective", math.nan))
        _set_rng_state(state["rng"], device)
    # Each rank draws different augmentations; the seed offset is part of the resumed state.
    if resume_from is None:
        torch.manual_seed(cfg.train.seed * 1000 + this_rank + 1)

    model: nn.Module = method
    if is_distributed():
        model = DistributedDataParallel(method, device_ids=[device.index] if device.type == "cuda" else None,
                                        find_unused_parameters=False)
    log = ScalarLog(tensorboard_dir(run_dir) if this_rank == 0 else None)
    total_steps = data.steps_per_epoch * cfg.train.epochs
    metrics: dict[str, float] = {}
    # Seconds in training steps over every epoch this process ran, evaluated or not: with
    # eval.every_epochs > 1 one epoch's ``epoch_seconds`` is a fraction of the training.
    train_seconds = 0.0
    if cfg.eval.before_training and start_epoch == 0:
        metrics = evaluator.run(method, epoch=0, final=False)
        log.scalars("eval", metrics, 0)
        _report(report, metrics | {"epoch": 0}, None)

    for epoch in range(start_epoch, cfg.train.epochs):
        epoch_stats = _train_one_epoch(cfg, data, method, model, optimizer, scheduler, device, epoch,
                                       total_steps, log, step_callback)
        train_seconds += epoch_stats["epoch_seconds"]
        done = epoch + 1
        if done % cfg.eval.every_epochs and done != cfg.train.epochs:
            continue
        metrics = evaluator.run(method, epoch=done, final=done == cfg.train.epochs)
        metrics.update(epoch_stats)
        metrics["train_seconds"] = train_seconds
        metrics["epoch"] = done
        log.scalars("eval", metrics, done * data.steps_per_epoch)
        improved = is_improvement(metrics.get(cfg.eval.objective), best, cfg.eval.objective_mode)
        if improved:
            best = float(metrics[cfg.eval.objective])
        checkpoint_dir = None
        if this_rank == 0:
            state = {"model": method.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "epoch": done, "rng": _rng_state(device),
                     "best_objective": best, "metrics": metrics}
            checkpoint_dir = write_checkpoint(epoch_checkpoint(run_dir, done), state, cfg.to_dict())
            if improved:
                # The bank this evaluation embedded with these weights goes with them into the
                # checkpoint that reports read (ssl_core.bank_cache); periodic ones only resume.
                write_checkpoint(best_checkpoint(run_dir), state, cfg.to_dict(),
                                 {BANK_FILE: bank_payload(cfg, evaluator.last_bank)})
            prune_checkpoints(checkpoints_dir(run_dir), cfg.train.keep_checkpoints)
        _report(report, metrics, checkpoint_dir)
    data.train_batches.close()
    log.close()
    return metrics


def _report(report: ReportFn | None, metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
    if report is not None:
        report(metrics, checkpoint_dir)


def make_views(data: DataBundle, x: Tensor, channels_last: bool) -> list[Tensor]:
    """A loader batch already on the device -> the method's views, ``[B, C, H, W]`` each.

    ``x`` is audio crops ``[B, V, T]`` float or images ``[B, C, H, W]`` uint8; the view maker
    runs the front end and the augmentations without autograd.
    """
    with torch.no_grad():
        views = data.view_maker(x)
    if channels_last:
        views = [v.contiguous(memory_format=torch.channels_last) for v in views]
    return views


def optimise_step(cfg: Config, method: Method, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler,
                  device: torch.device, views: list[Tensor], labels: Tensor, *, epoch: int, step_in_epoch: int,
                  global_step: int, total_steps: int) -> tuple[float, dict[str, float]]:
    """Forward, loss, backward and optimiser step on ready views; returns ``(loss, logs)``.

    ``model`` is ``method`` or its DDP wrapper; ``labels: [B]`` on the device.
    """
    with autocast_context(cfg, device):
        loss, logs = model(views, labels)
    _check_finite(loss, epoch, step_in_epoch, cfg)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.optim.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(method.parameters(), cfg.optim.grad_clip)
    optimizer.step()
    scheduler.step()
    method.on_step_end(global_step, total_steps)
    return float(loss.detach()), logs


def train_step(cfg: Config, data: DataBundle, method: Method, model: nn.Module, optimizer: torch.optim.Optimizer,
               scheduler, device: torch.device, x: Tensor, labels: Tensor, *, epoch: int, step_in_epoch: int,
               total_steps: int) -> tuple[float, dict[str, float]]:
    """One training step on a loader batch ``(x, labels)``: to the device, views, then ``optimise_step``.

    Exactly what ``train`` runs per batch (``bench/pipeline.py`` times it); returns ``(loss, logs)``.
    """
    x = x.to(device, non_blocking=True)
    labels = labels.to(device, non_blocking=True)
    views = make_views(data, x, use_channels_last(cfg, device))
    return optimise_step(cfg, method, model, optimizer, scheduler, device, views, labels, epoch=epoch,
                         step_in_epoch=step_in_epoch, global_step=epoch * data.steps_per_epoch + step_in_epoch,
                         total_steps=total_steps)


def _train_one_epoch(cfg: Config, data: DataBundle, method: Method, model: nn.Module,
                     optimizer: torch.optim.Optimizer, scheduler, device: torch.device, epoch: int,
                     total_steps: int, log: ScalarLog, step_callback) -> dict[str, float]:
    method.train()
    progress = Progress(cfg.train.progress, total=data.steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.train.epochs}")
    loss_sum, seen, started = 0.0, 0, time.perf_counter()
    for step_in_epoch, (x, labels) in enumerate(data.train_batches.epoch(epoch)):
        global_step = epoch * data.steps_per_epoch + step_in_epoch
        loss_value, logs = train_step(cfg, data, method, model, optimizer, scheduler, device, x, labels,
                                      epoch=epoch, step_in_epoch=step_in_epoch, total_steps=total_steps)
        loss_sum += loss_value * x.shape[0]
        seen += x.shape[0]
        if step_callback is not None:
            step_callback(global_step, loss_value, logs)
        log.scalars("train", {"loss": loss_value, "lr": optimizer.param_groups[0]["lr"], **logs}, global_step)
        progress.update(loss=loss_value)
    progress.close()
    elapsed = time.perf_counter() - started
    throughput = seen * world_size() / max(elapsed, 1e-9)
    train_loss = float(all_reduce_mean(torch.tensor(loss_sum / max(seen, 1), device=device)))
    log.scalars("train", {"samples_per_s": throughput, "epoch_loss": train_loss}, (epoch + 1) * data.steps_per_epoch)
    return {"train_loss": train_loss, "samples_per_s": throughput, "epoch_seconds": elapsed}


def _check_finite(loss: Tensor, epoch: int, step: int, cfg: Config) -> None:
    finite = torch.isfinite(loss.detach()).float()
    if is_distributed():
        # Every rank must agree, or one raises while the others wait in all-reduce forever.
        finite = all_reduce_mean(finite)
    if float(finite) < 1.0:
        raise NonFiniteLossError(
            f"the {cfg.method.name} loss became non-finite ({float(loss.detach())}) at epoch {epoch + 1}, "
            f"step {step + 1} (optim.lr={cfg.optim.lr}, method.temperature={cfg.method.temperature}); "
            "lower optim.lr, raise the temperature, or set optim.grad_clip")


__all__ = ["train", "train_step", "make_views", "optimise_step", "NonFiniteLossError", "latest_checkpoint",
           "build_model", "resolve_device"]
