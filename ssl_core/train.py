"""Standalone training without Ray: ``python -m ssl_core.train --method simclr --data birdsong``.

Prints one line per evaluation (kNN accuracy and collapse metrics), writes checkpoints
and TensorBoard events under ``--output``, and resumes with ``--resume``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ssl_core.config import ConfigError, load_config

SHOWN = ("knn_top1", "knn_top5", "linear_top1", "emb_std", "eff_rank", "align", "uniform", "ari", "nmi",
         "head_top1", "medium_top1", "tail_top1", "train_loss", "samples_per_s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ssl_core.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML file with only the keys that differ from the defaults")
    p.add_argument("--method", help="SSL method (shortcut for --set method.name=...)")
    p.add_argument("--data", help="embedded dataset name (birdsong, birdsong-x2 ... birdsong-x16, digits) "
                                  "or a dataset directory")
    p.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    p.add_argument("--backbone", help="timm model name (shortcut for --set model.backbone=...)")
    p.add_argument("--output", help="run directory (checkpoints/, tensorboard/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set method.temperature=0.1 (repeatable)")
    p.add_argument("--resume", nargs="?", const="latest", default=None,
                   help="resume from a checkpoint directory, or the newest one in --output")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return p.parse_args(argv)


def _overrides(args: argparse.Namespace) -> list[str]:
    shortcuts = {"method.name": args.method, "data.dataset": args.data, "train.epochs": args.epochs,
                 "model.backbone": args.backbone, "train.output_dir": args.output}
    return [f"{k}={v}" for k, v in shortcuts.items() if v is not None] + list(args.overrides)


def format_metrics(metrics: dict[str, float]) -> str:
    parts = [f"epoch {int(metrics.get('epoch', 0))}"]
    parts += [f"{name} {metrics[name]:.4g}" for name in SHOWN if name in metrics]
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, _overrides(args))
    except (ConfigError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.print_config:
        import yaml

        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        return 0
    from ssl_core.memory import is_out_of_memory, out_of_memory_reason
    from ssl_core.trainer import NonFiniteLossError, train  # heavy imports after the cheap checks

    started = time.perf_counter()

    def report(metrics: dict[str, float], _checkpoint) -> None:
        print(format_metrics(metrics), flush=True)

    print(f"training {cfg.method.name} on {cfg.data.dataset} with {cfg.model.backbone} for "
          f"{cfg.train.epochs} epochs -> {cfg.train.output_dir}", flush=True)
    try:
        final = train(cfg, report=report, resume_from=args.resume)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except NonFiniteLossError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RuntimeError as err:  # torch.OutOfMemoryError is one
        if not is_out_of_memory(err):
            raise
        print(f"error: {out_of_memory_reason(cfg, err)}", file=sys.stderr)
        return 1
    wall = time.perf_counter() - started
    # Where a run's time goes: the training steps of every epoch this process ran, against
    # its whole wall (start-up, evaluation and checkpoints are the rest).
    stepped = float(final.get("train_seconds", 0.0))
    print(f"training steps {stepped:.1f} s of {wall:.1f} s wall ({stepped / wall:.0%}) up to "
          f"epoch {int(final.get('epoch', 0))}")
    print(f"done in {wall:.0f} s; final val knn_top1 {final.get('knn_top1', float('nan')):.2f} %; "
          f"tensorboard --logdir {Path(cfg.train.output_dir) / 'tensorboard'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
