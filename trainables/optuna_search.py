"""Optuna TPE through Ray Tune, telling Optuna the truth about trials that ended early.

Ray's ``OptunaSearch`` records a trial that ASHA stopped as COMPLETE with its partial
score, so TPE treats an epoch-2 kNN accuracy as the final value of that configuration
(docs/design.md, Ray and Optuna facts). Here such trials are told as PRUNED, with their last score reported as an
intermediate value at the epoch they reached, which is what Optuna's own pruners do; and
errored trials, and trials that reported a ``trial_failure`` (non-finite loss, out of
memory), are told as FAIL whatever they reported, so TPE learns the region is bad.
"""

from __future__ import annotations

import math
from typing import Any

from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from trainables.worker_loop import FAILURE_KEY


class PruningAwareOptunaSearch(OptunaSearch):
    def __init__(self, *args: Any, full_epochs: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._full_epochs = full_epochs

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result, error)
        ot_trial = self._ot_trials[trial_id]
        epoch = (result or {}).get("epoch")
        if error or (result or {}).get(FAILURE_KEY):
            self._ot_study.tell(ot_trial, state=TrialState.FAIL)
        elif epoch is not None and epoch < self._full_epochs:
            value = (result or {}).get(self.metric)
            if isinstance(value, (int, float)) and math.isfinite(value):
                ot_trial.report(float(value), step=int(epoch))
            self._ot_study.tell(ot_trial, state=TrialState.PRUNED)
        else:
            return super().on_trial_complete(trial_id, result, error)
        self._completed_trials.add(trial_id)

    def trial_states(self) -> dict[str, int]:
        """How many Optuna trials ended in each state (COMPLETE, PRUNED, FAIL, RUNNING)."""
        counts: dict[str, int] = {}
        for trial in self._ot_study.trials:
            counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
        return counts
