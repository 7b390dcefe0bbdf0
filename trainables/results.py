"""After a search: the trial table, the best config, its test-split report and its backbone.

Everything is written into the experiment directory, each file atomically
(:mod:`ssl_core.atomic`; the TensorBoard report as a whole folder): ``summary.md`` (top
trials), ``trials.csv`` (all), the best trial's config, ``best_test_metrics.json`` (the best
trial evaluated once on the test split), ``best_backbone.pth`` (+ ``.yaml``: how timm loads
it), ``figures/`` and ``best_trial/``.

A trial is ranked by its best objective after epoch 0 (:mod:`ssl_core.objective`); the
trainer's ``checkpoints/best`` of that trial is the same evaluation, and the run rebuilt from
it once (:func:`ssl_core.run.load_run`, on the training device) gives the test report, the
figures and the exported backbone.

The trials are read back from the experiment directory by Tune's own reader
(:func:`load_experiment`), after a search and for ``launch.py --summarise`` alike, so that
the files can always be regenerated from the directory alone, without Ray running.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from matplotlib.figure import Figure
from ray import tune
from ray.tune import ExperimentAnalysis

from search_spaces import SearchSpace
from ssl_core.atomic import atomic_directory, atomic_write_text
from ssl_core.checkpoint import CONFIG_FILE
from ssl_core.eval.figures import embedding_figure, longtail_figure, save_figure
from ssl_core.eval.rank_agreement import REFERENCE, agreement_line, rank_agreement
from ssl_core.eval.tensorboard_report import write_best_trial_report
from ssl_core.export import export_backbone
from ssl_core.objective import LABEL_FREE, best_evaluation
from ssl_core.run import LoadedRun, best_checkpoint, load_run, read_run_config_dict
from trainables.outcome import COLUMNS as OUTCOME_COLUMNS
from trainables.outcome import Outcome, TrialOutcome, decide_outcome
from trainables.study_report import history_figure, importance_figure, study_from_trials
from trainables.trial_folder import trial_number, trial_run_dir
from trainables.verdict_report import choose_winner, verdict_block
from trainables.worker_loop import FAILURE_KEY

SHOWN_METRICS = ("knn_top1", "knn_top5", "emb_std", "eff_rank", "rankme", "align", "uniform", "tail_top1")
BEST_CONFIG_FILE = f"best_{CONFIG_FILE}"  # the best trial's run config, as its checkpoint holds it
TEST_METRICS_FILE = "best_test_metrics.json"
BACKBONE_FILE = "best_backbone.pth"
TEST_SHOWN = ("knn_top1", "knn_top5", "linear_top1", "head_top1", "medium_top1", "tail_top1", "ari", "nmi",
              "silhouette", "emb_std")


@dataclass
class TrialRow:
    name: str
    params: dict[str, Any]
    outcome: TrialOutcome
    epochs: int
    best: float  # the trial's score: its best objective after epoch 0 (nan: none)
    best_epoch: int | None  # the evaluation that score comes from (the trainer's best checkpoint)
    best_low: float  # that evaluation's 95 % bootstrap interval over val items (nan: the metric has none)
    best_high: float
    last: dict[str, float]
    seconds: float
    trial_dir: Path
    # The label-free metrics and kNN top-1 at the scored evaluation (best_epoch), for the agreement line.
    at_best: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """The outcome as shown in the summary and ``trials.csv``."""
        return self.outcome.label()


def load_experiment(experiment_dir: Path) -> tuple[tune.ResultGrid, dict[str, str]]:
    """Every trial of a Tune experiment, read from its directory alone.

    Tune's own reader (``ExperimentAnalysis``: ``experiment_state-*.json`` and each trial's
    ``result.json`` / ``progress.csv`` / error file) builds the same ``ResultGrid`` that
    ``Tuner.fit`` returns; it reads files and starts no Ray. Returns the grid and each trial
    directory name's Tune status (TERMINATED, ERROR, RUNNING, PENDING or PAUSED).
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
        best, best_epoch = math.nan, None
        best_low, best_high = math.nan, math.nan
        if history is not None and space.metric in history and "epoch" in history:
            pairs = history[["epoch", space.metric]].dropna()
            best, best_epoch = best_evaluation(zip(pairs["epoch"].astype(int), pairs[space.metric].astype(float)),
                                               space.mode)
            best_low, best_high = _interval_at(history, space.metric, best_epoch)
        at_best = _values_at(history, (*LABEL_FREE, REFERENCE), best_epoch)
        outcome = decide_outcome(result.error, metrics, statuses.get(Path(result.path).name), space.epochs,
                                 grace, FAILURE_KEY)
        rows.append(TrialRow(name=Path(result.path).name, params=dict(result.config or {}), outcome=outcome,
                             epochs=outcome.epoch, best=best, best_epoch=best_epoch, best_low=best_low,
                             best_high=best_high,
                             last={k: float(metrics[k]) for k in SHOWN_METRICS if k in metrics},
                             seconds=float(metrics.get("time_total_s", 0.0) or 0.0), trial_dir=Path(result.path),
                             at_best=at_best))
    sign = -1 if space.mode == "max" else 1
    # Ties (equal best values are common: kNN accuracy moves in steps of 1/len(val)) go to the
    # trial started first, so the order, the best trial and every file do not depend on the
    # order Tune lists trials in.
    rows.sort(key=lambda r: (math.isnan(r.best), sign * r.best if not math.isnan(r.best) else 0,
                             _sequence(r.name), r.name))
    return rows


def _interval_at(history: Any, metric: str, epoch: int | None) -> tuple[float, float]:
    """``metric``'s interval (``<metric>_low``, ``<metric>_high``) at ``epoch`` of a trial's history."""
    low, high = f"{metric}_low", f"{metric}_high"
    if epoch is None or low not in history or high not in history:
        return math.nan, math.nan
    at = history[history["epoch"] == epoch]
    if at.empty:
        return math.nan, math.nan
    return float(at[low].iloc[-1]), float(at[high].iloc[-1])


def _values_at(history: Any, metrics: tuple[str, ...], epoch: int | None) -> dict[str, float]:
    """The ``metrics`` a trial's history holds at ``epoch`` (its scored evaluation); {} without one."""
    if history is None or epoch is None or "epoch" not in history:
        return {}
    at = history[history["epoch"] == epoch]
    return {m: float(at[m].iloc[-1]) for m in metrics if m in at and not at.empty}


def label_free_notes(rows: list[TrialRow], space: SearchSpace) -> list[str]:
    """Per label-free metric the trials report: how well its ranking of the scored trials agrees
    with kNN top-1's (each trial at its scored evaluation; trials an interruption left unfinished
    are left out). [] when no trial reports one."""
    lines = []
    finished = [r for r in rows if getattr(r, "outcome", None) is None or r.outcome.kind is not Outcome.INTERRUPTED]
    for metric in LABEL_FREE:
        pairs = [(r.at_best[metric], r.at_best[REFERENCE]) for r in finished
                 if metric in r.at_best and REFERENCE in r.at_best]
        if metric != space.metric and not pairs:
            continue
        free, knn = zip(*pairs) if pairs else ((), ())
        lines.append(agreement_line(metric, rank_agreement(free, knn), space.metric))
    return lines


def _with_interval(value: float, low: float, high: float) -> str:
    """``33.33 [22.1, 44.9]``: a score with its 95 % interval, when it has one."""
    if math.isnan(low) or math.isnan(high):
        return _fmt(value)
    return f"{_fmt(value)} [{low:.3g}, {high:.3g}]"


def noise_note(rows: list[TrialRow], metric: str) -> str | None:
    """One line on how noisy the objective is next to the spread it ranks, or None without intervals."""
    scored = [r for r in rows if not math.isnan(r.best) and not math.isnan(r.best_low)]
    if not scored:
        return None
    half = sorted((r.best_high - r.best_low) / 2 for r in scored)[len(scored) // 2]
    best = scored[0]
    overlapping = sum(1 for r in scored[1:] if r.best_high >= best.best_low)
    return (f"noise: the val {metric} of one trial has a 95 % interval of about +-{half:.3g} points (bootstrap over "
            f"val items; median over {len(scored)} trials); {overlapping} of the other {len(scored) - 1} trials' "
            f"intervals reach the best trial's, so the val ranking alone does not separate them")


def _sequence(trial_name: str) -> int:
    """The order trials started (Tune's trial number); large if absent."""
    try:
        return trial_number(trial_name)
    except ValueError:
        return 1 << 30


def shown_path(path: Path) -> str:
    """``path`` as a user would type it here: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def summary_table(rows: list[TrialRow], space: SearchSpace, top: int = 10) -> str:
    keys = list(space.params)
    header = ["trial", *keys, f"best {space.metric} [95 % CI]", "best epoch", *SHOWN_METRICS, "epochs", "time s", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows[:top]:
        cells = [row.name.split("_")[2] if row.name.count("_") >= 2 else row.name,
                 *(_fmt(row.params.get(k)) for k in keys), _with_interval(row.best, row.best_low, row.best_high),
                 "-" if row.best_epoch is None else str(row.best_epoch),
                 *(_fmt(row.last.get(m, float("nan"))) for m in SHOWN_METRICS),
                 str(row.epochs), f"{row.seconds:.0f}", row.status]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_trials_csv(rows: list[TrialRow], space: SearchSpace, path: Path) -> None:
    """Every trial: params, score, the epoch it comes from, last metrics, and its outcome
    (typed columns, read back by :meth:`TrialOutcome.from_row`; ``status`` is for people)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    keys = list(space.params)
    writer.writerow(["trial", *keys, f"best_{space.metric}", f"best_{space.metric}_low", f"best_{space.metric}_high",
                     "best_epoch", *SHOWN_METRICS, "epochs", "seconds",
                     "status", *OUTCOME_COLUMNS])
    for row in rows:
        outcome = row.outcome.columns()
        writer.writerow([row.name, *(row.params.get(k) for k in keys), row.best, row.best_low, row.best_high,
                         "" if row.best_epoch is None else row.best_epoch,
                         *(row.last.get(m) for m in SHOWN_METRICS), row.epochs, row.seconds, row.status,
                         *(outcome[c] for c in OUTCOME_COLUMNS)])
    atomic_write_text(path, buffer.getvalue())


def best_trial_checkpoint(row: TrialRow) -> Path:
    """The trainer's best checkpoint of a trial (the evaluation its score comes from)."""
    path = best_checkpoint(trial_run_dir(row.trial_dir))
    if not path.is_dir():
        raise FileNotFoundError(f"trial {row.name} has no checkpoint at {path}")
    return path


def write_figures(experiment_dir: Path, space: SearchSpace, run: LoadedRun | None,
                  test_metrics: dict[str, float] | None) -> list[Path]:
    """Search figures as PNGs in ``<experiment>/figures/``; with a best run, also its
    TensorBoard report in ``<experiment>/best_trial/`` (Projector, view pairs, the same figures)."""
    study = study_from_trials(experiment_dir / "trials.csv", space)
    figures: dict[str, Figure] = {"optimisation_history": history_figure(study, space.metric)}
    importance = importance_figure(study)  # None with < 2 complete trials or nothing varying
    if importance is not None:
        figures["param_importances"] = importance
    if run is not None and test_metrics is not None:
        from ssl_core.run_report import embed_split, view_pairs

        features, labels, class_names = embed_split(run, "test")
        pairs = view_pairs(run, labels, "test")
        figures["test_embeddings_tsne"] = embedding_figure(
            features, labels, class_names, method="tsne", title=f"{space.name}: best trial, test split")
        figures["test_longtail"] = longtail_figure(test_metrics, title=f"{space.name}: best trial, test split")
        with atomic_directory(experiment_dir / "best_trial") as tmp:
            write_best_trial_report(tmp, features, labels, class_names, pairs, figures)
    return [save_figure(fig, experiment_dir / "figures" / f"{name}.png") for name, fig in figures.items()]


def write_results(results: tune.ResultGrid, space: SearchSpace, experiment_dir: Path,
                  statuses: Mapping[str, str] | None = None) -> str:
    """Write every result file and return the text summary for the console."""
    from trainables import optuna_store

    rows = trial_rows(results, space, statuses)
    write_trials_csv(rows, space, experiment_dir / "trials.csv")
    study_note = optuna_store.ensure_study(experiment_dir, space)  # an experiment from before the study was kept
    scored = [r for r in rows if not math.isnan(r.best) and r.outcome.scored]
    lines = [f"# {space.name}: {len(rows)} trials, objective {space.metric} ({space.mode})", ""]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.outcome.kind.value] = counts.get(row.outcome.kind.value, 0) + 1
    # Pruned, collapsed and interrupted trials were told to Optuna as PRUNED, failed ones as FAIL.
    lines.append("trials: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if counts.get(Outcome.INTERRUPTED.value):
        lines.append(f"the search was interrupted before {counts[Outcome.INTERRUPTED.value]} trial(s) finished; "
                     f"`python launch.py --resume --name {experiment_dir.name} --storage {shown_path(experiment_dir.parent)}` "
                     "continues it")
    lines += [f"each trial's score: its best {space.metric} after epoch 0 (the untrained network's is not one); "
              "the best trial's checkpoint of that epoch is tested and exported",
              "", summary_table(rows, space), ""]
    noise = noise_note(rows, space.metric)
    if noise:
        lines += [noise, ""]
    agreement = label_free_notes(scored, space)
    if agreement:
        lines += [*agreement, ""]
    run, test_metrics = None, None
    winner = choose_winner(scored, space, experiment_dir, best_trial_checkpoint)
    if winner is not None:
        from ssl_core.run_report import evaluate_test_split

        checkpoint = winner.checkpoints[0]
        atomic_write_text(experiment_dir / BEST_CONFIG_FILE,
                          yaml.safe_dump(read_run_config_dict(checkpoint), sort_keys=False))
        verdict = verdict_block(winner, space, experiment_dir)
        run = load_run(checkpoint)  # on the training device: CUDA where there is one
        test_metrics = evaluate_test_split(run)
        atomic_write_text(experiment_dir / TEST_METRICS_FILE, json.dumps(test_metrics, indent=2))
        export_backbone(run, experiment_dir / BACKBONE_FILE)
        # The verdict comes first: it answers "which configuration, and is it better than what I had?"
        lines[2:2] = verdict
        lines += [*winner.lines, "", winner.heading,
                  "  params: " + (", ".join(f"{k}={_fmt(v)}" for k, v in winner.params.items()) or "the base config"),
                  "  test split of its first seed (touched once): " + ", ".join(
                      f"{k} {test_metrics[k]:.4g}" for k in TEST_SHOWN if k in test_metrics),
                  f"  checkpoint: {shown_path(checkpoint)}",
                  f"  best config: {shown_path(experiment_dir / BEST_CONFIG_FILE)}",
                  f"  backbone for timm: {shown_path(experiment_dir / BACKBONE_FILE)}"]
    pngs = write_figures(experiment_dir, space, run, test_metrics)
    lines.append(f"figures: {shown_path(experiment_dir / 'figures')} ({', '.join(p.name for p in pngs)})")
    lines += ["", f"tensorboard --logdir {shown_path(experiment_dir)}"]
    if study_note:
        lines.append(study_note)
    if optuna_store.study_path(experiment_dir).is_file():
        lines.append(f"optuna-dashboard {shown_path(optuna_store.study_path(experiment_dir))}")
    text = "\n".join(lines)
    atomic_write_text(experiment_dir / "summary.md", text + "\n")
    return text
