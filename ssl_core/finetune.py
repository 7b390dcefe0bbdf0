"""Does the search's pretraining help a classifier once fine-tuned? The label-efficiency answer.

    python -m ssl_core.finetune runs/<experiment> [--fractions 0.01 0.1 1] [--seeds 0 1 2]
                                [--epochs N] [--device auto|cpu|cuda] [--out DIR]

For each label fraction (a stratified, seeded share of the train split's labelled recordings,
at least one per class: ``data.label_fraction``) and each training seed, the same supervised
run is trained twice with the trainer (``method: supervised``, a linear classifier on the
backbone): once starting from the backbone the search exported (``model.init_backbone``: its
recommended configuration's, ``best_backbone.pth``), once from a random start, with the same
architecture, data, augmentations, optimiser, seeds and number of optimiser steps. Each run's
classifier is scored once on the test split (top-1 and balanced top-1); the table gives means
over seeds with 95 % intervals and the paired gain, and ``launch.py --summarise`` adds its rows
to the verdict.

Budget: ``--epochs`` is the length of the 100 % run (default: the source run's
``train.epochs``); a smaller fraction trains as many optimiser steps (more epochs over fewer
items), so a fraction changes the labels, not the compute.

Resumes: each (fraction, seed, start) writes ``finetune/results/<name>.json`` atomically when it
is scored; a rerun skips those and continues an interrupted run from its newest checkpoint.
No Ray: it runs wherever ``ssl_core`` does, on the CPU or a GPU.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ssl_core.config import Config, ConfigError, config_from_dict, set_value
from ssl_core.finetune_table import FINETUNE_DIR, INIT_NAMES, SCRATCH, SSL, RunResult, read_result, write_result, \
    write_table

DEFAULT_FRACTIONS = (0.01, 0.1, 1.0)
DEFAULT_SEEDS = (0, 1, 2)
BACKBONE_FILE, CONFIG_FILE = "best_backbone.pth", "best_config.yaml"  # what a search's summary exports


class FinetuneError(ValueError):
    """Input the command refuses, with the fix; raised before any training."""


@dataclass
class Source:
    """What is fine-tuned: a run config and the backbone weights it trained."""

    folder: Path
    config: Config
    backbone: Path
    what: str  # for the table's title


def resolve_source(folder: Path, out_dir: Path) -> Source:
    """The experiment's exported best backbone and config, or a trainer run folder's best checkpoint
    (exported into ``out_dir`` once). Refuses anything else, naming what is missing."""
    if not folder.is_dir():
        raise FinetuneError(f"{folder} is not a folder; pass an experiment folder (runs/<experiment>) or a "
                            f"trainer run folder (train.output_dir)")
    if (folder / BACKBONE_FILE).is_file() and (folder / CONFIG_FILE).is_file():
        from ssl_core.run import read_saved_config

        cfg = read_saved_config(folder / CONFIG_FILE)
        return Source(folder, cfg, folder / BACKBONE_FILE, f"{folder.name}: the search's recommended configuration")
    if (folder / "space.yaml").is_file() or (folder / "launch.json").is_file():
        raise FinetuneError(f"the search in {folder} has no exported backbone yet ({BACKBONE_FILE}, {CONFIG_FILE}); "
                            f"write its summary first: `python launch.py --summarise {folder}` (or finish the "
                            f"search with `python launch.py --resume --name {folder.name} --storage {folder.parent}`)")
    from ssl_core.run_layout import best_checkpoint

    checkpoint = best_checkpoint(folder)
    if not checkpoint.is_dir():
        raise FinetuneError(f"{folder} is neither an experiment folder (no {BACKBONE_FILE} and {CONFIG_FILE}) nor "
                            f"a trainer run folder (no {checkpoint.relative_to(folder)}); pass runs/<experiment> "
                            f"after its search, or a run folder of `python -m ssl_core.train`")
    from ssl_core.export import export_backbone
    from ssl_core.run import load_run, read_run_config

    exported = out_dir / "backbone.pth"
    if not exported.is_file():
        export_backbone(load_run(checkpoint, device="cpu"), exported)
    return Source(folder, read_run_config(checkpoint), exported, f"{folder.name}: its best checkpoint")


def finetune_config(source: Source, *, init: str, fraction: float, seed: int, epochs: int, batch_size: int,
                    device: str, run_dir: Path) -> Config:
    """The source run's config as a supervised run at one label fraction, seed and start.

    Everything else (backbone, data, front end, augmentations, optimiser) stays the source's:
    the two starts differ only in ``model.init_backbone``. Evaluation during training is cut to
    a few cheap kNN evaluations (the score is the classifier's, on test, afterwards).
    """
    cfg = config_from_dict(source.config.to_dict())
    values = {"method.name": "supervised", "model.init_backbone": str(source.backbone.resolve()) if init == SSL else "",
              "data.label_fraction": fraction, "data.batch_size": batch_size, "train.seed": seed,
              "train.epochs": epochs, "train.device": device, "train.output_dir": str(run_dir),
              "train.keep_checkpoints": 1, "train.progress": "off",
              # Checkpoints are written at evaluations: 4 per run, so an interrupted run resumes
              # near where it stopped, at the cost of 4 cheap kNN evaluations.
              "eval.every_epochs": max(1, math.ceil(epochs / 4)),
              "eval.before_training": False, "eval.linear_probe": "never", "eval.clustering": False,
              "eval.views_for_align": False, "eval.shortcut_windows": 0, "eval.queries": "val",
              "eval.objective": "knn_top1", "eval.objective_mode": "max",
              "optim.warmup_epochs": min(cfg.optim.warmup_epochs, float(epochs))}
    for key, value in values.items():
        set_value(cfg, key, value)
    return cfg.validate()


@dataclass
class Plan:
    """The budget of one label fraction: labelled train items, batch, epochs (same steps as 100 %)."""

    fraction: float
    train_items: int
    batch_size: int
    epochs: int
    steps: int


def plan_fractions(source: Source, fractions: Sequence[float], epochs: int) -> list[Plan]:
    """Check the data has labels for every fraction and fix each fraction's batch and epochs.

    Reads the dataset once per fraction (no training); refuses data without labels, with
    fewer than 2 classes, or without a labelled test split, naming the fix.
    """
    from ssl_core.data_pipeline import load_and_split

    probe = finetune_config(source, init=SCRATCH, fraction=1.0, seed=0, epochs=epochs, batch_size=2,
                            device="cpu", run_dir=Path("unused"))
    def budget(fraction: float) -> tuple[int, int, int]:
        """(labelled train items, batch, optimiser steps per epoch) at ``fraction``."""
        set_value(probe, "data.label_fraction", fraction)
        index, splits = load_and_split(probe)
        labels = index.labels()
        n = int((labels[splits["train"]] >= 0).sum())
        if n == 0 or index.num_classes < 2:
            raise FinetuneError(f"dataset {index.name!r} has no labelled train recordings ({index.num_classes} "
                                f"class(es)); fine-tuning needs labels: give recordings a label (a folder per "
                                f"class, or a label column in the manifest)")
        test = labels[splits["test"]]
        if len(test) == 0 or (test < 0).all():
            raise FinetuneError(f"the test split of {index.name!r} has no labelled item; fine-tuning is scored "
                                f"there: raise data.split_fractions[2] or give data.fold_map a test fold")
        batch = max(2, min(source.config.data.batch_size, n))  # batch norm needs 2 items
        per_epoch = max(1, n // batch)
        if source.config.train.max_steps_per_epoch:
            per_epoch = min(per_epoch, source.config.train.max_steps_per_epoch)
        return n, batch, per_epoch

    full_steps = epochs * budget(1.0)[2]  # every fraction trains as many steps as the 100 % run
    plans = []
    for fraction in fractions:
        n, batch, per_epoch = budget(fraction)
        run_epochs = max(epochs, math.ceil(full_steps / per_epoch))
        plans.append(Plan(fraction, n, batch, run_epochs, run_epochs * per_epoch))
    return sorted(plans, key=lambda p: p.fraction)


def test_hits(run_dir: Path, epochs: int, device: str) -> tuple[np.ndarray, np.ndarray]:
    """The trained classifier's top-1 on each test item: ``(hits [N] 0/1, labels [N])``."""
    from ssl_core.eval.evaluate import embed_loader
    from ssl_core.eval_runner import Evaluator
    from ssl_core.run import load_run
    from ssl_core.run_layout import epoch_checkpoint

    run = load_run(epoch_checkpoint(run_dir, epochs), device=None if device == "auto" else device)
    evaluator = Evaluator(run.cfg, run.data, run.device, query_split="test")
    with torch.no_grad():  # logits [N, C]; audio windows' logits are mean-pooled like features
        out = embed_loader(run.method.project, evaluator.query_loader, run.data.view_maker.embed_input, run.device)
    labels = out.labels.cpu().numpy()
    return (out.features.argmax(dim=1).cpu().numpy() == labels).astype(np.float64), labels


def run_one(source: Source, out_dir: Path, plan: Plan, init: str, seed: int, epochs: int, device: str) -> RunResult:
    """Train (or resume) one (fraction, seed, start), score it on test, write its result atomically."""
    from ssl_core.trainer import latest_checkpoint, train

    run_dir = out_dir / "runs" / f"{init}_f{plan.fraction:g}_s{seed}_e{epochs}"
    cfg = finetune_config(source, init=init, fraction=plan.fraction, seed=seed, epochs=plan.epochs,
                          batch_size=plan.batch_size, device=device, run_dir=run_dir)
    started = time.perf_counter()
    train(cfg, run_dir=run_dir, resume_from=latest_checkpoint(run_dir))
    hits, labels = test_hits(run_dir, plan.epochs, device)
    result = RunResult(init, plan.fraction, seed, hits, labels, plan.train_items, epochs, plan.steps,
                       time.perf_counter() - started)
    write_result(out_dir, result)
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # scored: only the result is needed now
    return result


def fraction_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give label fractions in (0, 1], "
                                         f"e.g. 0.01 0.1 1") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"label fraction {text} is outside (0, 1]; 0.01 is 1 % of the train "
                                         f"split's labels, 1 all of them")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ssl_core.finetune", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="runs/<experiment> after its summary, or a trainer run folder")
    parser.add_argument("--fractions", type=fraction_arg, nargs="+", default=list(DEFAULT_FRACTIONS),
                        help="label fractions of the train split, in (0, 1] (default: 0.01 0.1 1)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                        help="training seeds, the same for both starts (default: 0 1 2)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of the 100 %% run (default: the source run's train.epochs); smaller "
                             "fractions train as many optimiser steps")
    parser.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu, cuda, cuda:1")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <folder>/finetune)")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs {args.epochs}: give at least 1")
    if any(s < 0 or s >= 2**32 for s in args.seeds) or len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds {args.seeds}: give distinct integers in [0, 2**32)")
    if args.device not in ("auto", "cpu") and not args.device.startswith("cuda"):
        parser.error(f"--device {args.device!r}: use auto, cpu, cuda or cuda:<index>")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device is visible here; use --device cpu")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = args.out or args.folder / FINETUNE_DIR
    try:
        source = resolve_source(args.folder, out_dir)
        epochs = args.epochs or source.config.train.epochs
        plans = plan_fractions(source, sorted(set(args.fractions)), epochs)
    except (FinetuneError, ConfigError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    jobs = [(plan, init, seed) for plan in plans for seed in args.seeds for init in (SSL, SCRATCH)]
    print(f"fine-tuning {source.backbone} ({source.config.model.backbone}) against supervised from scratch: "
          f"{len(jobs)} runs ({len(plans)} fractions x {len(args.seeds)} seeds x 2 starts), into {out_dir}")
    for plan in plans:
        print(f"  {100 * plan.fraction:g} %: {plan.train_items} labelled train items, batch {plan.batch_size}, "
              f"{plan.epochs} epochs, {plan.steps} steps")
    results, started = [], time.perf_counter()
    for n, (plan, init, seed) in enumerate(jobs, 1):
        done = read_result(out_dir, init, plan.fraction, seed, epochs)
        if done is None:
            done = run_one(source, out_dir, plan, init, seed, epochs, args.device)
            state = f"trained in {done.seconds:.0f} s"
        else:
            state = "done before"
        print(f"[{n}/{len(jobs)}] {100 * plan.fraction:g} % seed {seed} {INIT_NAMES[init]}: test top-1 "
              f"{100 * done.hits.mean():.1f} ({state})", flush=True)
        results.append(done)
    lines, files = write_table(out_dir, results, f"label efficiency of {source.what} ({source.config.model.backbone}, "
                                                 f"{epochs} epochs at 100 %)")
    print("\n".join(lines))
    print(f"wrote {', '.join(str(f) for f in files)} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
