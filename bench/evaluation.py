"""Where a per-epoch evaluation's time goes, against an epoch of training steps.

Builds a run as ``train`` does (``--method``, defaults otherwise) and times, after one untimed
warm-up evaluation (loader processes start, first allocations), ``--repeats`` times each:

* ``run``: the whole ``Evaluator.run`` (embeddings, kNN, collapse and clustering metrics, align);
* ``bank`` / ``queries``: embedding the kNN bank (train split) and the val queries;
* ``align``: the two augmented views of the queries for ``align``, one loader pass and one
  view-maker call per batch (``Evaluator.embed``'s way), and ``align, 2 passes``: the former
  way, a pass per view, each pass making both views and keeping one;
* ``epoch of steps``: ``steps_per_epoch`` training steps (``train_step``) from the train batches.

Medians over repeats; ``share`` = evaluation / (evaluation + epoch of steps), the issue's
"evaluation below 20 % of an epoch" target. The evaluation batches come from where the run
would take them (``Evaluator.placement``: held on the device when the train split is and they
fit ``data.device_data_gb``); ``--compare`` also times ``run`` with ``data.placement=loader``
evaluation batches (loader processes) on the same model. Run from the repository root:

    SSL_SEARCH_CACHE=.cache/test-data python bench/evaluation.py [--data birdsong] [--threads 1] [--compare]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, package not installed

from ssl_core.config import load_config  # noqa: E402
from ssl_core.data_pipeline import build_data  # noqa: E402
from ssl_core.eval.evaluate import embed_loader, eval_encoder  # noqa: E402
from ssl_core.eval_runner import Evaluator  # noqa: E402
from ssl_core.optim import build_optimizer, build_scheduler  # noqa: E402
from ssl_core.trainer import build_model, resolve_device, train_step  # noqa: E402


def timed(fn, device: torch.device) -> float:
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--data", default="birdsong")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare", action="store_true", help="also time run() with loader-fed evaluation")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(None, [f"method.name={args.method}", f"data.dataset={args.data}",
                             f"train.device={args.device}", "train.progress=off", *args.overrides])
    device = resolve_device(cfg)
    torch.manual_seed(cfg.train.seed)
    data = build_data(cfg, 0, 1, device)
    method = build_model(cfg, data, device)
    optimizer = build_optimizer(method, cfg.optim, cfg.data.batch_size)
    scheduler = build_scheduler(optimizer, cfg.optim, data.steps_per_epoch, cfg.train.epochs)
    evaluator = Evaluator(cfg, data, device)
    encode = eval_encoder(method, cfg.eval.features)
    views = data.view_maker

    def epoch_of_steps() -> None:
        method.train()
        for step, (x, labels) in enumerate(data.train_batches.epoch(0)):
            train_step(cfg, data, method, method, optimizer, scheduler, device, x, labels, epoch=0,
                       step_in_epoch=step, total_steps=data.steps_per_epoch * cfg.train.epochs)

    def two_passes() -> None:
        embed_loader(encode, evaluator.align_batches, lambda x: views(x)[0], device)
        embed_loader(encode, evaluator.align_batches, lambda x: views(x)[1], device)

    parts = {
        "run": lambda: evaluator.run(method, epoch=1, final=False),
        "bank": lambda: embed_loader(encode, evaluator.bank_batches, views.embed_input, device),
        "queries": lambda: embed_loader(encode, evaluator.query_batches, views.embed_input, device),
        "align": lambda: embed_loader(encode, evaluator.align_batches, lambda x: views(x)[:2], device),
        "align, 2 passes": two_passes,
        "epoch of steps": epoch_of_steps,
    }
    if args.compare and evaluator.placement == "device":
        from dataclasses import replace

        loader_cfg = replace(cfg, data=replace(cfg.data, placement="loader"))
        fed = Evaluator(loader_cfg, data, device)
        fed.run(method, epoch=1, final=False)  # warm-up: its loader processes start
        parts = {"run, loader-fed": lambda: fed.run(method, epoch=1, final=False), **parts}
    evaluator.run(method, epoch=1, final=False)  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(args.repeats):
        for name, fn in parts.items():
            if name != "epoch of steps":
                method.eval()
                with torch.no_grad():
                    seconds[name].append(timed(fn, device))
            else:
                seconds[name].append(timed(fn, device))
    data.train_batches.close()
    median = {name: statistics.median(s) for name, s in seconds.items()}
    print(f"{args.method} on {args.data} ({len(data.splits['bank'])} bank, {len(data.splits['val'])} val items, "
          f"{data.steps_per_epoch} steps of {cfg.data.batch_size} per epoch), {cfg.model.backbone} on {device}, "
          f"{torch.get_num_threads()} threads, {args.repeats} repeats (median s); evaluation batches: "
          f"{evaluator.placement}")
    for name, value in median.items():
        print(f"  {name:<16} {value:8.2f} s")
    share = median["run"] / (median["run"] + median["epoch of steps"])
    print(f"evaluation share of an epoch: {share:.1%} ({evaluator.placement}; target < 20 %); align one pass saves "
          f"{median['align, 2 passes'] - median['align']:.2f} s of {median['align, 2 passes']:.2f} s")
    result = median | {"share": share}
    if "run, loader-fed" in median:
        result["share_loader"] = median["run, loader-fed"] / (median["run, loader-fed"] + median["epoch of steps"])
        print(f"loader-fed evaluation share: {result['share_loader']:.1%} (run {median['run, loader-fed']:.2f} s "
              f"-> {median['run']:.2f} s held on {device})")
    return result


if __name__ == "__main__":
    main()
