"""After a search: the trial table, the best config, its test-split report and its backbone.

Everything is written into the experiment directory, each file atomically (a temporary file
in the same folder, then ``os.replace``; the TensorBoard report as a whole folder):
``summary.md`` (top trials), ``trials.csv`` (all), ``best_config.yaml``,
``best_test_metrics.json`` (the best trial evaluated once on the test split),
``best_backbone.pth`` (+ ``.yaml``: how timm loads it), ``figures/`` and ``best_trial/``.

The trials are read back from the experiment directory by Tune's own reader
(:func:`load_experiment`), after a search and for ``launch.py --summarise`` alike, so that
the files can always be regenerated from the directory alone, without Ray running.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
import yaml
from ray import tune
from ray.tune import ExperimentAnalysis

from matplotlib.figure import Figure

from search_spaces import SearchSpace
from search_spaces.study_report import history_figure, importance_figure, study_from_trials
from ssl_core.eval.best_trial import embed_test_split
from ssl_core.eval.figures import embedding_figure, longtail_figure, save_figure
from ssl_core.eval.tensorboard_report import write_best_trial_report
from ssl_core.checkpoint import read_checkpoint
from ssl_core.config import config_from_dict
from ssl_core.eval.collapse_rule import collapse_reason
from ssl_core.export import export_backbone
from trainables.worker_loop import FAILURE_KEY

SHOWN_METRICS = ("knn_top1", "knn_top5", "emb_std", "eff_rank", "align", "uniform", "tail_top1")
# Tune statuses of a trial the search did not get to finish (the driver was interrupted).
UNFINISHED = ("RUNNING", "PENDING", "PAUSED")
# Their status: "interrupted at epoch N" (study_report tells Optuna PRUNED, with the partial score).
INTERRUPTED = "interrupted"


@dataclass
class TrialRow:
    name: str
    params: dict[str, Any]
    status: str  # completed / pruned / interrupted at epoch N / collapsed: ... / failed: ...
    epochs: int
    best: float  # best objective over the trial's evaluations
    last: dict[str, float]
    seconds: float
    trial_dir: Path


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, rename it over ``path``:
    a reader (or a crash) sees the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600: others sharing the storage must read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _replace_dir(build, target: Path) -> None:
    """Build a folder with ``build(tmp_dir)`` and swap it in for ``target`` (old one removed after)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700: others sharing the storage must read it
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / target.name)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def load_experiment(experiment_dir: Path) -> tuple[tune.ResultGrid, dict[str, str]]:
    """Every trial of a Tune experiment, read from its directory alone.

    Tune's own reader (``ExperimentAnalysis``: ``experiment_state-*.json`` and each trial's
    ``result.json`` / ``progress.csv`` / error file) builds the same ``ResultGrid`` that
    ``Tuner.fit`` returns; it reads files and starts no Ray. Returns the grid and each trial
    directory name's Tune status (TERMINATED, ERROR, or one of :data:`UNFINISHED`).
    """
    analysis = ExperimentAnalysis(str(experiment_dir))
    statuses = {Path(trial.path).name: str(trial.status) for trial in analysis.trials}
    return tune.ResultGrid(analysis), statuses


def trial_rows(results: tune.ResultGrid, space: SearchSpace,
               statuses: Mapping[str, str] | None = None) -> list[TrialRow]:
    """One row per trial, best first. ``statuses``: Tune's status by trial directory name
    (from :func:`load_experiment`), which tells an unfinished trial from a pruned one."""
    grace = space.scheduler.get("grace_period", 1)
    statuses = statuses or {}
    rows = []
    for result in results:
        metrics = dict(result.metrics or {})
        history = result.metrics_dataframe
        objective = space.metric
        best = float("nan")
        if history is not None and objective in history:
            values = history[objective].dropna()
            if len(values):
                best = float(values.max() if space.mode == "max" else values.min())
        epoch = int(metrics.get("epoch", 0) or 0)
        if result.error is not None:
            status = "failed: " + str(result.error).strip().splitlines()[-1][:160]
        elif metrics.get(FAILURE_KEY):
            status = f"failed: {metrics[FAILURE_KEY]}"
        elif (reason := collapse_reason(metrics, grace)) is not None:
            status = reason
        elif statuses.get(Path(result.path).name) in UNFINISHED:
            status = f"{INTERRUPTED} at epoch {epoch}"
        elif epoch < space.epochs:
            status = "pruned"
        else:
            status = "completed"
        params = {k: v for k, v in (result.config or {}).items()}
        rows.append(TrialRow(name=Path(result.path).name, params=params, status=status, epochs=epoch, best=best,
                             last={k: float(metrics[k]) for k in SHOWN_METRICS if k in metrics},
                             seconds=float(metrics.get("time_total_s", 0.0) or 0.0), trial_dir=Path(result.path)))
    sign = -1 if space.mode == "max" else 1
    # Ties (equal best values are common: kNN accuracy moves in steps of 1/len(val)) go to the
    # trial started first, so the order, the best trial and every file do not depend on the
    # order Tune lists trials in.
    rows.sort(key=lambda r: (math.isnan(r.best), sign * r.best if not math.isnan(r.best) else 0,
                             _sequence(r.name), r.name))
    return rows


def _sequence(trial_name: str) -> int:
    """Tune's trial number in ``run_trial_<id>_<n>_...`` (the order trials started); large if absent."""
    match = re.match(r"[^_]+_[^_]+_[0-9a-f]+_(\d+)", trial_name)
    return int(match.group(1)) if match else 1 << 30


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def summary_table(rows: list[TrialRow], space: SearchSpace, top: int = 10) -> str:
    keys = list(space.params)
    header = ["trial", *keys, f"best {space.metric}", *SHOWN_METRICS, "epochs", "time s", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows[:top]:
        cells = [row.name.split("_")[2] if row.name.count("_") >= 2 else row.name,
                 *(_fmt(row.params.get(k)) for k in keys), _fmt(row.best),
                 *(_fmt(row.last.get(m, float("nan"))) for m in SHOWN_METRICS),
                 str(row.epochs), f"{row.seconds:.0f}", row.status]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_trials_csv(rows: list[TrialRow], space: SearchSpace, path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    keys = list(space.params)
    writer.writerow(["trial", *keys, f"best_{space.metric}", *SHOWN_METRICS, "epochs", "seconds", "status"])
    for row in rows:
        writer.writerow([row.name, *(row.params.get(k) for k in keys), row.best,
                         *(row.last.get(m) for m in SHOWN_METRICS), row.epochs, row.seconds, row.status])
    atomic_write(path, buffer.getvalue())


def best_checkpoint(row: TrialRow) -> Path:
    """The trainer's best-kNN checkpoint of a trial (written under ``<trial>/ssl/``)."""
    path = row.trial_dir / "ssl" / "checkpoints" / "best"
    if not (path / "state.pt").is_file():
        raise FileNotFoundError(f"trial {row.name} has no checkpoint at {path}")
    return path


def evaluate_on_test(checkpoint_dir: Path) -> dict[str, float]:
    """The best trial, once, on the test split: kNN, linear probe, long tail, clustering."""
    from ssl_core.data_pipeline import build_data
    from ssl_core.eval_runner import Evaluator
    from ssl_core.trainer import build_model

    state = read_checkpoint(checkpoint_dir)
    cfg = config_from_dict(yaml.safe_load((checkpoint_dir / "config.yaml").read_text()))
    cfg.data.num_workers = 0
    cfg.eval.linear_probe, cfg.eval.clustering = "final", True
    # The view maker draws `align`'s augmentations from the global RNG: seed it, so the report
    # (and --summarise's copy of it) is the same every time.
    torch.manual_seed(cfg.train.seed)
    device = torch.device("cpu")
    data = build_data(cfg, 0, 1, device)
    method = build_model(cfg, data, device)
    method.load_state_dict(state["model"])
    metrics = Evaluator(cfg, data, device, query_split="test").run(method, epoch=int(state["epoch"]), final=True)
    return {k: float(v) for k, v in metrics.items()}


def write_figures(experiment_dir: Path, space: SearchSpace, checkpoint: Path | None,
                  test_metrics: dict[str, float] | None) -> list[Path]:
    """Search figures as PNGs in ``<experiment>/figures/``; with a best trial, also its
    TensorBoard report in ``<experiment>/best_trial/`` (Projector, view pairs, the same figures)."""
    study = study_from_trials(experiment_dir / "trials.csv", space)
    figures: dict[str, Figure] = {"optimisation_history": history_figure(study, space.metric)}
    importance = importance_figure(study)  # None with < 2 complete trials or nothing varying
    if importance is not None:
        figures["param_importances"] = importance
    if checkpoint is not None and test_metrics is not None:
        features, labels, class_names, pairs = embed_test_split(checkpoint)
        figures["test_embeddings_tsne"] = embedding_figure(
            features, labels, class_names, method="tsne", title=f"{space.name}: best trial, test split")
        figures["test_longtail"] = longtail_figure(test_metrics, title=f"{space.name}: best trial, test split")
        _replace_dir(lambda tmp: write_best_trial_report(tmp, features, labels, class_names, pairs, figures),
                     experiment_dir / "best_trial")
    pngs = [save_figure(fig, experiment_dir / "figures" / f"{name}.png") for name, fig in figures.items()]
    for png in pngs:
        os.chmod(png, 0o644)  # save_figure writes through mkstemp (0600)
    return pngs


def _export_backbone_atomically(checkpoint: Path, out_path: Path) -> None:
    """``export_backbone`` writes ``.pth`` atomically but its ``.yaml`` in place: export both
    into a temporary folder beside them, then rename each over the old one."""
    with tempfile.TemporaryDirectory(prefix=".export.", dir=out_path.parent) as tmp:
        exported = export_backbone(checkpoint, Path(tmp) / out_path.name)
        os.chmod(exported, 0o644)  # written through mkstemp (0600): others sharing the storage must read it
        os.replace(exported.with_suffix(".yaml"), out_path.with_suffix(".yaml"))
        os.replace(exported, out_path)


def write_results(results: tune.ResultGrid, space: SearchSpace, experiment_dir: Path,
                  statuses: Mapping[str, str] | None = None) -> str:
    """Write every result file and return the text summary for the console."""
    rows = trial_rows(results, space, statuses)
    write_trials_csv(rows, space, experiment_dir / "trials.csv")
    scored = [r for r in rows if not math.isnan(r.best) and not r.status.startswith("failed")]
    lines = [f"# {space.name}: {len(rows)} trials, objective {space.metric} ({space.mode})", ""]
    counts: dict[str, int] = {}
    for row in rows:
        kind = "interrupted" if row.status.startswith(INTERRUPTED) else row.status.split(":")[0]
        counts[kind] = counts.get(kind, 0) + 1
    # Pruned and collapsed trials were told to Optuna as PRUNED, failed ones as FAIL.
    lines.append("trials: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if counts.get("interrupted"):
        lines.append(f"the search was interrupted before {counts['interrupted']} trial(s) finished; "
                     f"`python launch.py --resume --name {experiment_dir.name} --storage {experiment_dir.parent}` "
                     "continues it")
    lines += ["", summary_table(rows, space), ""]
    checkpoint, test_metrics = None, None
    if scored:
        best = scored[0]
        checkpoint = best_checkpoint(best)
        best_cfg = yaml.safe_load((checkpoint / "config.yaml").read_text())
        atomic_write(experiment_dir / "best_config.yaml", yaml.safe_dump(best_cfg, sort_keys=False))
        test_metrics = evaluate_on_test(checkpoint)
        atomic_write(experiment_dir / "best_test_metrics.json", json.dumps(test_metrics, indent=2))
        _export_backbone_atomically(checkpoint, experiment_dir / "best_backbone.pth")
        shown = ("knn_top1", "knn_top5", "linear_top1", "head_top1", "medium_top1", "tail_top1", "ari", "nmi",
                 "silhouette", "emb_std")
        lines += [f"best trial: {best.name}", "  params: " + ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items()),
                  f"  val {space.metric}: {_fmt(best.best)}",
                  "  test split (touched once): " + ", ".join(f"{k} {test_metrics[k]:.4g}" for k in shown
                                                              if k in test_metrics),
                  f"  best config: {experiment_dir / 'best_config.yaml'}",
                  f"  backbone for timm: {experiment_dir / 'best_backbone.pth'}"]
    pngs = write_figures(experiment_dir, space, checkpoint, test_metrics)
    lines.append(f"figures: {experiment_dir / 'figures'} ({', '.join(p.name for p in pngs)})")
    lines += ["", f"tensorboard --logdir {experiment_dir}"]
    text = "\n".join(lines)
    atomic_write(experiment_dir / "summary.md", text + "\n")
    return text
