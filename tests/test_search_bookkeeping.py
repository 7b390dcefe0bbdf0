"""What the search tells Optuna, and when it calls a trial collapsed (no Ray cluster needed)."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState
from ray import tune

from ssl_core.eval.collapse_rule import collapse_reason
from trainables.optuna_search import PruningAwareOptunaSearch
from trainables.search import CollapseStopper


def _searcher(full_epochs: int = 6) -> PruningAwareOptunaSearch:
    searcher = PruningAwareOptunaSearch(metric="knn_top1", mode="max", seed=0, full_epochs=full_epochs,
                                        sampler=optuna.samplers.RandomSampler(seed=0))
    searcher.set_search_properties("knn_top1", "max", {"method.temperature": tune.loguniform(0.05, 1.0)})
    return searcher


def test_early_stopped_trials_are_pruned_and_errors_failed_not_completed() -> None:
    searcher = _searcher()
    for trial_id in ("full", "asha", "boom", "nan"):
        assert "method.temperature" in searcher.suggest(trial_id)
    searcher.on_trial_complete("full", {"knn_top1": 40.0, "epoch": 6})
    searcher.on_trial_complete("asha", {"knn_top1": 25.0, "epoch": 2})  # ASHA stopped it at epoch 2
    searcher.on_trial_complete("boom", {"knn_top1": 30.0, "epoch": 6}, error=True)
    searcher.on_trial_complete("nan", {"knn_top1": float("nan"), "epoch": 3})
    trials = {t.number: t for t in searcher._ot_study.trials}
    assert [trials[i].state for i in range(4)] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL,
                                                   TrialState.PRUNED]
    assert trials[0].value == 40.0
    assert trials[1].intermediate_values == {2: 25.0}  # the partial score, at the epoch reached
    assert trials[3].intermediate_values == {}  # a NaN is not reported as a score
    assert searcher.trial_states() == {"COMPLETE": 1, "PRUNED": 2, "FAIL": 1}
    # Ray's own OptunaSearch would have recorded the ASHA-stopped trial as COMPLETE (25.0):
    plain = _searcher()
    plain.suggest("asha")
    super(PruningAwareOptunaSearch, plain).on_trial_complete("asha", {"knn_top1": 25.0, "epoch": 2})
    assert plain._ot_study.trials[0].state == TrialState.COMPLETE


def test_optuna_is_told_the_best_score_after_epoch_0_not_the_last_or_the_untrained() -> None:
    searcher = _searcher(full_epochs=3)
    for trial_id in ("full", "asha"):
        searcher.suggest(trial_id)
    for epoch, value in ((0, 50.0), (1, 20.0), (2, 31.0), (3, 27.0)):  # the untrained network scored 50
        searcher.on_trial_result("full", {"knn_top1": value, "epoch": epoch, "training_iteration": epoch + 1})
    searcher.on_trial_complete("full", {"knn_top1": 27.0, "epoch": 3})
    for epoch, value in ((0, 45.0), (1, 22.0)):
        searcher.on_trial_result("asha", {"knn_top1": value, "epoch": epoch, "training_iteration": epoch + 1})
    searcher.on_trial_complete("asha", {"knn_top1": 22.0, "epoch": 1})
    full, asha = searcher._ot_study.trials
    assert full.state == TrialState.COMPLETE and full.value == 31.0  # the summary's score too
    assert asha.state == TrialState.PRUNED and asha.intermediate_values[1] == 22.0


@pytest.mark.parametrize("metrics, grace, expected", [
    ({"epoch": 1, "emb_std": 1e-6, "feature_dim": 512, "knn_top1": 5.0, "chance_top1": 5.0}, 2, None),  # in grace
    ({"epoch": 2, "emb_std": 1e-6, "feature_dim": 512, "knn_top1": 30.0, "chance_top1": 5.0}, 2, "emb_std"),
    ({"epoch": 3, "emb_std": 0.02, "feature_dim": 512, "knn_top1": 5.5, "chance_top1": 5.0}, 2, "at chance"),
    ({"epoch": 3, "emb_std": 0.0033, "feature_dim": 512, "knn_top1": 24.6, "chance_top1": 5.0}, 2, None),
])
def test_collapse_rule_and_stopper(metrics, grace, expected) -> None:
    # 0.0033 at d=512 is an *untrained* resnet10t on birdsong: low, but not collapse.
    reason = collapse_reason(metrics, grace)
    stop = CollapseStopper(grace)("trial", metrics)
    if expected is None:
        assert reason is None and stop is False
    else:
        assert expected in reason and stop is True
