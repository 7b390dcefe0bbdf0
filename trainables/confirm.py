"""The confirmation stage: the search's top configurations again, over several training seeds.

A search ranks trials by one short run each, scored on a small val split: the differences
it ranks are often smaller than the noise of one run (another seed moves a trial's score by
several points). So after the search, the ``confirm.top`` best *distinct* configurations, the
space's base configuration (what the user had without the search) and the supervised
reference (the same backbone and budget, with labels) are each trained ``confirm.seeds``
times, ``confirm.epochs`` long. They are ranked by their mean objective; only the winner
goes to the test split, the export and the figures.

A candidate the search already trained, to the end and with the same config (the winner's own
trial; the base config when ``evaluate_first`` ran it), keeps that trial as its first seed: the
stage trains only its other ``confirm.seeds - 1`` seeds. The trial is a finished run of exactly
that configuration, so retraining it with another seed would buy nothing a fresh seed does not,
and on 2 CPU cores it is a third of the default search's training. Its seed is the trial's
(``train.seed + trial number - 1``); the stage's own seeds are ``train.seed + SEED_OFFSET +
replicate``. Pairing by seed index stays valid: the bootstrap resamples runs, not seeds' values.

The stage is a second Ray Tune experiment inside the search's folder (``<experiment>/confirm``),
run with the same trial resources as the search, so it packs onto GPUs and clusters the same
way and resumes the same way (``launch.py --resume``). The candidates are written once to
``confirm_candidates.json`` before any of them trains, so a resumed stage trains the same
ones, and ``--summarise`` reads everything back from the folder alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from ray import tune

from search_spaces import SearchSpace, resolve_config
from search_spaces.resolve import resolve_base_config
from ssl_core.atomic import atomic_write_text
from ssl_core.config import Config, ConfigError, config_from_dict, set_value
from ssl_core.methods import METHODS
from ssl_core.run import best_checkpoint, read_run_config_dict
from trainables.trial import TrialSetup, make_trainable

CONFIRM_DIR = "confirm"  # <experiment>/confirm: the stage's own Tune experiment
CANDIDATES_FILE = "confirm_candidates.json"
# Confirmation seeds: base seed + SEED_OFFSET + replicate. Far above the search trials' seeds
# (base seed + trial number - 1), so no confirmation run repeats a search trial; a reused
# search trial (``Candidate.search_trial``) is replicate 0 with its own seed.
SEED_OFFSET = 100_000
SEARCH, BASE, SUPERVISED = "search", "base", "supervised"


@dataclass(frozen=True)
class Candidate:
    name: str  # as shown in the verdict: "search #1 (trial 3)", "base config", "supervised reference"
    role: str  # SEARCH, BASE or SUPERVISED
    config: dict[str, Any]  # the validated run config, seed = the base seed (each replicate adds its own)
    uses_labels: bool  # label-using methods are not "self-supervised" winners unless the space allows
    params: dict[str, Any]  # the searched values (empty for the base and supervised reference)
    # The search trial (its folder name in the experiment) that already trained this config to the
    # end: replicate 0, not retrained. None: every replicate trains in the stage.
    search_trial: str | None = None

    def replicates_to_train(self, seeds: int) -> list[int]:
        return [r for r in range(seeds) if not (r == 0 and self.search_trial)]


def _with_epochs(cfg: Config, epochs: int) -> Config:
    set_value(cfg, "train.epochs", epochs)
    return cfg.validate()


def pick_candidates(rows: Sequence[Any], space: SearchSpace, overrides: Sequence[str]) -> list[Candidate]:
    """The top distinct configurations of the search (best first), then the base config (left out
    when it is one of them: the search found nothing better than it) and the supervised
    reference; each with the search trial that already trained it, where one did.
    ``rows``: the search's trial rows, best first (``trainables.results``)."""
    assert space.confirm is not None
    epochs = space.confirm_epochs
    picked: list[Candidate] = []
    seen: set[str] = set()
    for row in rows:
        if len([c for c in picked if c.role == SEARCH]) >= space.confirm.top:
            break
        if math.isnan(row.best) or not row.outcome.scored:
            continue
        key = json.dumps(row.params, sort_keys=True, default=str)
        if key in seen:
            continue
        cfg = _with_epochs(resolve_config(space, row.params, overrides), epochs)
        uses = METHODS[cfg.method.name].uses_labels
        if uses and not space.confirm.labelled_eligible:
            continue
        seen.add(key)
        rank = len([c for c in picked if c.role == SEARCH]) + 1
        picked.append(Candidate(f"search #{rank} ({row.name.split('_')[2] if row.name.count('_') >= 2 else row.name})",
                                SEARCH, cfg.to_dict(), uses, dict(row.params)))
    base = resolve_base_config(space, overrides, epochs)
    same_as_base = [i for i, c in enumerate(picked) if _without_seed(c.config) == _without_seed(base.to_dict())]
    if same_as_base:  # a search candidate is the base config: compared with itself it would tie
        i = same_as_base[0]
        picked[i] = replace(picked[i], name=picked[i].name[:-1] + ", the base config)")
    else:
        picked.append(Candidate("base config", BASE, base.to_dict(), METHODS[base.method.name].uses_labels, {}))
    supervised = supervised_reference(base)
    if supervised is not None:
        picked.append(Candidate("supervised reference", SUPERVISED, supervised.to_dict(), True, {}))
    return [replace(c, search_trial=_trained_by_search(c.config, rows)) for c in picked]


def _without_seed(config: dict[str, Any]) -> str:
    """A run config as a key that ignores its training seed (what replicates vary)."""
    train = {k: v for k, v in config.get("train", {}).items() if k != "seed"}
    return json.dumps({**config, "train": train}, sort_keys=True, default=str)


def _trained_by_search(config: dict[str, Any], rows: Sequence[Any]) -> str | None:
    """The first search trial (in the search's ranking) that trained ``config`` to its last epoch,
    seed aside, with a best checkpoint: its folder name; None when no trial did."""
    from trainables.outcome import Outcome
    from trainables.trial_folder import trial_run_dir

    key = _without_seed(config)
    for row in rows:
        if row.outcome.kind is not Outcome.COMPLETED or math.isnan(row.best):
            continue
        checkpoint = best_checkpoint(trial_run_dir(row.trial_dir))
        if checkpoint.is_dir() and _without_seed(read_run_config_dict(checkpoint)) == key:
            return Path(row.trial_dir).name
    return None


def supervised_reference(base: Config) -> Config | None:
    """The base config trained with labels (``method.name=supervised``); None when the data has
    no labels for it or the base's settings do not fit that method."""
    cfg = config_from_dict(base.to_dict())
    try:
        set_value(cfg, "method.name", "supervised")
        return cfg.validate()
    except ConfigError:
        return None


def write_candidates(experiment_dir: Path, candidates: Sequence[Candidate]) -> None:
    atomic_write_text(experiment_dir / CANDIDATES_FILE,
                      json.dumps([asdict(c) for c in candidates], indent=2, default=str) + "\n")


def read_candidates(experiment_dir: Path) -> list[Candidate] | None:
    path = experiment_dir / CANDIDATES_FILE
    if not path.is_file():
        return None
    try:
        return [Candidate(**entry) for entry in json.loads(path.read_text())]
    except (json.JSONDecodeError, TypeError) as err:
        raise ValueError(f"{path} is damaged ({err}); delete it and the {CONFIRM_DIR}/ folder to redo "
                         f"the confirmation stage") from None


def replicate_seed(base_seed: int, replicate: int) -> int:
    return base_seed + SEED_OFFSET + replicate


def confirmation_jobs(candidates: Sequence[Candidate], seeds: int) -> list[dict[str, int]]:
    """The runs the stage trains, as Tune's params: ``{"candidate": i, "replicate": r}`` for every
    candidate and seed, less the replicates a search trial already trained."""
    return [{"candidate": i, "replicate": r} for i, c in enumerate(candidates) for r in c.replicates_to_train(seeds)]


def job_of(params: dict[str, Any]) -> tuple[int, int]:
    """``(candidate, replicate)`` of a confirmation run's Tune params (``{"run": {...}}``; stages
    started before reuse existed have the two keys at the top)."""
    job = params.get("run", params)
    return int(job["candidate"]), int(job["replicate"])


def confirm_config(candidates: Sequence[Candidate]):
    """``config_of`` for :func:`trainables.trial.make_trainable`: Tune's ``{run: {candidate,
    replicate}}`` -> the candidate's config with the replicate's seed."""

    def config_of(setup: TrialSetup, params: dict[str, Any], trial_dir: Path) -> Config:
        candidate, replicate = job_of(params)
        cfg = config_from_dict(candidates[candidate].config)
        set_value(cfg, "train.seed", replicate_seed(cfg.train.seed, replicate))
        return cfg.validate()  # once, where the params crossed from Ray

    return config_of


def run_confirmation(plan: Any, candidates: Sequence[Candidate], failures: int) -> tune.ResultGrid | None:
    """Train every candidate's replicates that no search trial trained, in ``<experiment>/confirm``
    (restored if started); None when there is none to train."""
    space: SearchSpace = plan.space
    assert space.confirm is not None
    jobs = confirmation_jobs(candidates, space.confirm.seeds)
    if not jobs:
        return None
    path = plan.experiment_dir / CONFIRM_DIR
    setup = TrialSetup(space=space, overrides=plan.overrides, storage_path=str(plan.experiment_dir),
                       experiment=CONFIRM_DIR, resources=plan.resources)
    trainable = tune.with_resources(make_trainable(setup, config_of=confirm_config(candidates)),
                                    plan.resources.trial_resources())
    if tune.Tuner.can_restore(str(path)):
        tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={"run": tune.grid_search(jobs)},
            tune_config=tune.TuneConfig(num_samples=1, max_concurrent_trials=plan.concurrent),
            run_config=tune.RunConfig(name=CONFIRM_DIR, storage_path=str(plan.experiment_dir),
                                      failure_config=tune.FailureConfig(max_failures=failures),
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=2)),
        )
    return tuner.fit()


def confirm_after_search(plan: Any, results: tune.ResultGrid, statuses: dict[str, str]) -> None:
    """Run the confirmation stage after a finished search (``launch.py``). Its candidates are
    fixed once, before any trains, so ``--resume`` finishes the same stage instead of choosing
    again; a search with unfinished trials (Ctrl-C) does not start it."""
    from trainables.outcome import Outcome
    from trainables.results import trial_rows
    from trainables.search import trial_retries

    candidates = read_candidates(plan.experiment_dir)
    if candidates is None:
        rows = trial_rows(results, plan.space, statuses)
        unfinished = plan.space.trials - sum(1 for row in rows if row.outcome.kind is not Outcome.INTERRUPTED)
        if unfinished:  # interrupted: the candidates must come from the whole search
            print(f"confirmation stage not started: {unfinished} of the search's {plan.space.trials} trials have not "
                  f"finished; `--resume` finishes them, then confirms", flush=True)
            return
        candidates = pick_candidates(rows, plan.space, plan.overrides)
        if not any(c.role == SEARCH for c in candidates):
            print("confirmation stage skipped: no trial of the search finished with a score", flush=True)
            return
        write_candidates(plan.experiment_dir, candidates)
    seeds = plan.space.confirm.seeds
    reused = [c.name for c in candidates if c.search_trial]
    print(f"confirmation stage: {len(candidates)} candidates x {seeds} seeds, {plan.space.confirm_epochs} epochs "
          f"each: " + "; ".join(c.name for c in candidates) + f"; {len(confirmation_jobs(candidates, seeds))} runs "
          "to train" + (f" (the search's own run is the first seed of: {'; '.join(reused)})" if reused else ""),
          flush=True)
    run_confirmation(plan, candidates, trial_retries(plan.resources))
