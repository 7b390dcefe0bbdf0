"""Optuna TPE through Ray Tune, telling Optuna the truth about trials that ended early.

Ray's ``OptunaSearch`` records a trial that ASHA stopped as COMPLETE with its partial
score, so TPE treats an epoch-2 kNN accuracy as the final value of that configuration
(docs/design.md, Ray and Optuna facts). Here such trials are told as PRUNED, with their last score reported as an
intermediate value at the epoch they reached, which is what Optuna's own pruners do; and
errored trials, and trials that reported a ``trial_failure`` (non-finite loss, out of
memory), are told as FAIL whatever they reported, so TPE learns the region is bad.

The value told is the trial's score as the summary ranks it (``ssl_core.objective``): its best
objective after epoch 0, not its last report nor the untrained network's epoch-0 score. It is
tracked from each result and kept in the searcher's state, so a resumed search tells the same.

With ``study_dir`` the study lives in ``<experiment>/optuna.journal`` (``trainables/optuna_store.py``),
written as the search runs: each trial carries its Tune id, and when it ends the epoch and 95 %
interval its score comes from. Tune pickles this searcher into its experiment state; a resumed
search reopens the journal (where the experiment folder is now, see :func:`resume_study_in`) and
writes into the same study: trials it had not told yet are told once, and those asked after the
last saved state, which no resumed trial will use, are told FAIL and marked ``abandoned``.

After a warm start (``trainables/warm_start.py``) the study begins with an earlier search's
trials, marked ``warm_start_from``; a proposal equal to one of them is not run again unless
``repeat_imported``: it is told FAIL, marked ``duplicate_of``, and Optuna asked anew.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from ssl_core.objective import is_improvement
from trainables import optuna_store as store
from trainables.worker_loop import FAILURE_KEY

# Proposals in a row that repeat earlier trials before the search gives up proposing: a small
# categorical space can be exhausted by the earlier study.
MAX_DUPLICATES = 50
_resume_dir: Path | None = None  # where a resumed experiment is now (set by resume_study_in)


@contextlib.contextmanager
def resume_study_in(experiment_dir: Path) -> Iterator[None]:
    """While a search is restored, its searcher reopens the study in ``experiment_dir``.

    Tune restores the searcher from its pickle and tells it nothing about the experiment folder
    (only a staging folder under Ray's session), and the folder may have moved since it started.
    """
    global _resume_dir
    _resume_dir = Path(experiment_dir)
    try:
        yield
    finally:
        _resume_dir = None


class PruningAwareOptunaSearch(OptunaSearch):
    def __init__(self, *args: Any, full_epochs: int, study_dir: Path | None = None, repeat_imported: bool = False,
                 **kwargs: Any) -> None:
        if study_dir is not None:
            kwargs.update(storage=store.journal_storage(store.study_path(study_dir)), study_name=Path(study_dir).name)
        super().__init__(*args, **kwargs)
        self._full_epochs = full_epochs
        self._study_dir = None if study_dir is None else Path(study_dir)
        self._repeat_imported = repeat_imported
        self._best: dict[str, float] = {}  # trial id -> best objective after epoch 0 (saved with the searcher)
        self._best_at: dict[str, tuple[int, float | None, float | None]] = {}  # -> its epoch and 95 % interval
        self._steps: dict[str, set[int]] = {}  # trial id -> epochs already told as intermediate values

    def _track(self, trial_id: str, result: dict | None) -> None:
        epoch, value = (result or {}).get("epoch"), (result or {}).get(self.metric)
        if isinstance(epoch, (int, float)) and epoch > 0 and isinstance(value, (int, float)) and \
                is_improvement(float(value), self._best.get(trial_id), self.mode):
            self._best[trial_id] = float(value)
            self._best_at[trial_id] = (int(epoch), result.get(f"{self.metric}_low"), result.get(f"{self.metric}_high"))

    def _setup_study(self, mode: str | list) -> None:
        super()._setup_study(mode)
        if getattr(self, "_study_dir", None) is not None and isinstance(self.metric, str):
            store.name_objective(self._ot_study, self.metric)

    def suggest(self, trial_id: str) -> dict | str | None:
        """Optuna's proposal, tagged with the Tune trial id; after a warm start, one no earlier
        trial evaluated (unless ``repeat_imported``)."""
        for _ in range(MAX_DUPLICATES):
            params = super().suggest(trial_id)
            ot_trial = self._ot_trials[trial_id]
            earlier = None if self._repeat_imported else self._imported().get(_key(ot_trial.params))
            if earlier is None:
                ot_trial.set_user_attr(store.ATTR_TUNE_ID, trial_id)
                return params
            del self._ot_trials[trial_id]
            ot_trial.set_user_attr(store.ATTR_DUPLICATE, earlier)
            self._ot_study.tell(ot_trial, state=TrialState.FAIL)
        print(f"note: Optuna proposed {MAX_DUPLICATES} configurations in a row that the warm start's earlier search "
              f"already evaluated; this search proposes no more (widen the space, or pass --warm-start-repeat)",
              flush=True)
        return Searcher.FINISHED

    def _imported(self) -> dict[tuple, int]:
        """Params of the warm start's earlier trials -> their number in this study."""
        if self._ot_study is None:
            return {}
        return {_key(t.params): t.number for t in self._ot_study.get_trials(deepcopy=False)
                if store.ATTR_IMPORTED in t.user_attrs}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Each evaluation becomes an intermediate value at step ``epoch`` (Ray's own uses
        ``training_iteration``, which restarts when Tune retries a trial): epoch 0's raw value,
        then the trial's score so far, so a pruned trial's last intermediate value is its score."""
        self._track(trial_id, result)
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        epoch, value = result.get("epoch"), result.get(self.metric)
        if not isinstance(epoch, (int, float)) or not isinstance(value, (int, float)):
            return
        shown = float(value) if epoch <= 0 else self._best.get(trial_id, math.nan)
        self._report(trial_id, shown, int(epoch))

    def _report(self, trial_id: str, value: float, epoch: int) -> None:
        """An intermediate value, once per epoch (Optuna ignores a second one with a warning)."""
        steps = self._steps.setdefault(trial_id, set())
        if math.isfinite(value) and epoch not in steps:
            self._ot_trials[trial_id].report(value, step=epoch)
            steps.add(epoch)

    def _scored(self, trial_id: str, result: dict | None) -> dict:
        """``result`` with the objective replaced by the trial's score (NaN before any trained epoch)."""
        self._track(trial_id, result)  # the last result, should Tune hand it only here
        return {**(result or {}), self.metric: self._best.get(trial_id, math.nan)}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Tell Optuna how the trial ended. Tune hands a trial's last result only here, not to
        :meth:`on_trial_result`, so it is tracked and told as an intermediate value first."""
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result, error)
        ot_trial = self._ot_trials[trial_id]
        if ot_trial.storage.get_trial(ot_trial._trial_id).state.is_finished():
            self._completed_trials.add(trial_id)  # told before an interruption; a resumed search tells once
            return None
        self._track(trial_id, result)
        epoch = (result or {}).get("epoch")
        if trial_id in self._best_at:
            best_epoch, low, high = self._best_at[trial_id]
            ot_trial.set_user_attr(store.ATTR_BEST_EPOCH, best_epoch)
            for key, value in store.interval_attrs(self.metric, low, high).items():
                ot_trial.set_user_attr(key, value)
        if error or (result or {}).get(FAILURE_KEY):
            self._ot_study.tell(ot_trial, state=TrialState.FAIL)
            self._completed_trials.add(trial_id)
            return None
        value = (result or {}).get(self.metric)
        if isinstance(epoch, (int, float)) and isinstance(value, (int, float)):
            self._report(trial_id, float(value) if epoch <= 0 else self._best.get(trial_id, math.nan), int(epoch))
        if epoch is not None and epoch < self._full_epochs:
            self._ot_study.tell(ot_trial, state=TrialState.PRUNED)
            self._completed_trials.add(trial_id)
            return None
        return super().on_trial_complete(trial_id, self._scored(trial_id, result), error)

    def restore(self, checkpoint_path: str) -> None:
        """Tune's restore, then the study reopened from its journal (see the module's docstring)."""
        super().restore(checkpoint_path)
        self.__dict__.setdefault("_best_at", {})  # a searcher saved before intervals were kept
        if getattr(self, "_study_dir", None) is None:
            return  # saved before the study was kept on disk: its in-memory study goes on
        self._study_dir = _resume_dir or self._study_dir
        self._storage = store.journal_storage(store.study_path(self._study_dir))
        study = optuna.load_study(study_name=self._study_name, storage=self._storage, sampler=self._sampler,
                                  pruner=optuna.pruners.NopPruner())
        self._ot_study = study
        self._ot_trials = {tid: optuna.Trial(study, t._trial_id) for tid, t in self._ot_trials.items()}
        known = {t._trial_id for t in self._ot_trials.values()}
        for tid, ot_trial in self._ot_trials.items():
            if ot_trial._cached_frozen_trial.state.is_finished():  # told after the last saved state
                self._completed_trials.add(tid)
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if frozen._trial_id not in known:
                self._storage.set_trial_user_attr(frozen._trial_id, store.ATTR_ABANDONED,
                                                  "asked after the last saved search state; the resumed search "
                                                  "does not run it")
                self._storage.set_trial_state_values(frozen._trial_id, TrialState.FAIL)

    def trial_states(self) -> dict[str, int]:
        """How many Optuna trials ended in each state (COMPLETE, PRUNED, FAIL, RUNNING)."""
        counts: dict[str, int] = {}
        for trial in self._ot_study.trials:
            counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
        return counts


def _key(params: dict[str, Any]) -> tuple:
    """Params as a comparable key: sorted ``(name, value)`` pairs, values by ``repr``."""
    return tuple(sorted((k, repr(v)) for k, v in params.items()))
