"""How far healthy runs stay from the collapse rule's emb_std threshold in their first epochs.

The search stops a trial whose evaluation shows ``emb_std < 0.02 / sqrt(d)``
(``ssl_core.eval.collapse_rule``), but only from the space's ASHA grace period on (epoch 2-5
in the shipped spaces), so a collapsed trial trains that long before it is stopped. Checking
from epoch 1 would be safe only if no healthy run ever comes near the threshold early.

This script trains each method standalone (``ssl_core.trainer.train``, in this process) for
``--epochs`` epochs on the default config (resnet10t, batch 64) and prints, per evaluation,
``emb_std * sqrt(d)``: 1 for isotropic embeddings, the rule fires below 0.02. The controls
are SimSiam without its stop-gradient (and without the projector's output BN, as in
tests/test_collapse.py), a run that collapses given enough steps, measured on the backbone's
features (what the search checks) and on the projector's; on birdsong at 3-6 epochs neither
comes near the threshold (``bench/results/collapse_margin_birdsong.txt``). ``--set`` runs
everything with other settings, e.g. a learning rate high enough to dip below it early.

    python bench/collapse_margin.py                          # 8 SSL methods + 2 controls, birdsong, 3 epochs
    python bench/collapse_margin.py --data digits --epochs 2
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere

from ssl_core.config import load_config  # noqa: E402
from ssl_core.eval.collapse_rule import EMB_STD_FRACTION, collapse_reason  # noqa: E402
from ssl_core.methods import METHODS  # noqa: E402
from ssl_core.trainer import train  # noqa: E402

SMALL_SCALE = ("data.num_workers=0", "eval.linear_probe=never", "eval.clustering=false",
               "eval.views_for_align=false", "train.progress=off", "eval.before_training=true")
_NO_STOP_GRADIENT = ("method.name=simsiam", "method.stop_gradient=false", "model.proj_output_bn=off",
                     "optim.name=sgd", "optim.lr=0.05")
# Negative controls: the same collapsing run, measured on the search's default features (the
# backbone's) and on the projector's output (where the collapse happens).
CONTROLS = {"simsiam-no-sg (backbone)": _NO_STOP_GRADIENT,
            "simsiam-no-sg (projector)": (*_NO_STOP_GRADIENT, "eval.features=projector")}


def run(name: str, sets: tuple[str, ...], dataset: str, epochs: int) -> list[dict[str, float]]:
    """Every evaluation's metrics (epoch 0 = untrained) of one standalone run."""
    reports: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix=f"collapse-{name}-") as out:
        cfg = load_config(None, [f"data.dataset={dataset}", f"train.epochs={epochs}", *SMALL_SCALE, *sets])
        train(cfg, report=lambda metrics, _checkpoint: reports.append(dict(metrics)), run_dir=out)
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="birdsong")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides for every run (key=value)")
    parser.add_argument("--methods", nargs="*", default=[m for m in METHODS if m != "supervised"] + list(CONTROLS))
    args = parser.parse_args()

    print(f"{args.data}, {args.epochs} epochs, default config (resnet10t, batch 64) {' '.join(args.set)}; "
          f"{platform.machine()}; "
          f"the rule fires below emb_std * sqrt(d) = {EMB_STD_FRACTION}")
    header = ["method", *(f"epoch {e}" for e in range(args.epochs + 1)), "min epochs>=1", "rule at epoch 1+",
              "knn_top1 per epoch", "seconds"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for name in args.methods:
        sets = CONTROLS.get(name, (f"method.name={name}",))
        started = time.perf_counter()
        reports = run(name, (*sets, *args.set), args.data, args.epochs)
        ratios = {int(m["epoch"]): m["emb_std"] * math.sqrt(m["feature_dim"]) for m in reports}
        trained = [ratios[e] for e in ratios if e >= 1]
        fired = next((int(m["epoch"]) for m in reports if m["epoch"] >= 1 and
                      (collapse_reason(m, 1) or "").startswith("emb_std")), None)
        cells = [name, *(f"{ratios[e]:.3f}" if e in ratios else "-" for e in range(args.epochs + 1)),
                 f"{min(trained):.3f}", "never" if fired is None else f"epoch {fired}",
                 " ".join(f"{m['knn_top1']:.1f}" for m in reports), f"{time.perf_counter() - started:.0f}"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
