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
"""

from __future__ import annotations

import math
from typing import Any

from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from ssl_core.objective import is_improvement
from trainables.worker_loop import FAILURE_KEY


class PruningAwareOptunaSearch(OptunaSearch):
    def __init__(self, *args: Any, full_epochs: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._full_epochs = full_epochs
        self._best: dict[str, float] = {}  # trial id -> best objective after epoch 0 (saved with the searcher)
        self._steps: dict[str, set[int]] = {}  # trial id -> epochs already told as intermediate values

    def _track(self, trial_id: str, result: dict | None) -> None:
        epoch, value = (result or {}).get("epoch"), (result or {}).get(self.metric)
        if isinstance(epoch, (int, float)) and epoch > 0 and isinstance(value, (int, float)) and \
                is_improvement(float(value), self._best.get(trial_id), self.mode):
            self._best[trial_id] = float(value)

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
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result, error)
        ot_trial = self._ot_trials[trial_id]
        epoch = (result or {}).get("epoch")
        if error or (result or {}).get(FAILURE_KEY):
            self._ot_study.tell(ot_trial, state=TrialState.FAIL)
        elif epoch is not None and epoch < self._full_epochs:
            self._report(trial_id, self._scored(trial_id, result)[self.metric], int(epoch))
            self._ot_study.tell(ot_trial, state=TrialState.PRUNED)
        else:
            return super().on_trial_complete(trial_id, self._scored(trial_id, result), error)
        self._completed_trials.add(trial_id)

    def trial_states(self) -> dict[str, int]:
        """How many Optuna trials ended in each state (COMPLETE, PRUNED, FAIL, RUNNING)."""
        counts: dict[str, int] = {}
        for trial in self._ot_study.trials:
            counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
        return counts
