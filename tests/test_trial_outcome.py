"""The typed trial outcome: decided once from Tune's record, stored as columns, read back unchanged."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from optuna.trial import TrialState

from search_spaces import Distribution
from tests.test_figures import space
from trainables.outcome import COLUMNS, Outcome, TrialOutcome, decide_outcome
from trainables.study_report import study_from_trials

FAILURE = "trial_failure"
HEALTHY = {"epoch": 4, "emb_std": 0.02, "feature_dim": 512.0, "knn_top1": 30.0, "chance_top1": 5.0}


@pytest.mark.parametrize("error, metrics, status, kind, reason", [
    (None, HEALTHY, "TERMINATED", Outcome.COMPLETED, ""),
    (None, {**HEALTHY, "epoch": 2}, "TERMINATED", Outcome.PRUNED, ""),
    (None, {**HEALTHY, "epoch": 2}, "RUNNING", Outcome.INTERRUPTED, ""),
    (None, {**HEALTHY, "emb_std": 1e-6}, "TERMINATED", Outcome.COLLAPSED, "emb_std 1e-06 < 0.02/sqrt(512)"),
    (None, {**HEALTHY, FAILURE: "non-finite loss: boom"}, "TERMINATED", Outcome.FAILED, "non-finite loss: boom"),
    (RuntimeError("first\nRuntimeError: last line"), HEALTHY, "ERROR", Outcome.FAILED, "RuntimeError: last line"),
])
def test_decide_outcome(error, metrics, status, kind, reason) -> None:
    outcome = decide_outcome(error, metrics, status, full_epochs=4, grace_epochs=1, failure_key=FAILURE)
    assert (outcome.kind, outcome.reason, outcome.epoch) == (kind, reason, metrics["epoch"])


@pytest.mark.parametrize("outcome, label", [
    (TrialOutcome(Outcome.COMPLETED, "", 4), "completed"),
    (TrialOutcome(Outcome.PRUNED, "", 2), "pruned"),
    (TrialOutcome(Outcome.INTERRUPTED, "", 3), "interrupted at epoch 3"),
    (TrialOutcome(Outcome.COLLAPSED, "knn_top1 5 % at chance (5 %)", 2), "collapsed: knn_top1 5 % at chance (5 %)"),
    (TrialOutcome(Outcome.FAILED, "out of memory: a: b", 1), "failed: out of memory: a: b"),
])
def test_outcome_round_trips_through_its_columns_and_its_label(outcome, label) -> None:
    assert outcome.label() == label
    row = {k: str(v) for k, v in outcome.columns().items()}
    assert TrialOutcome.from_row(row) == outcome
    # Tables written before the typed columns: the label (and the epochs column) alone.
    assert TrialOutcome.from_row({"status": label, "epochs": str(outcome.epoch)}) == outcome


def test_unknown_outcomes_are_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="completed, pruned, collapsed, failed, interrupted"):
        TrialOutcome.from_row({"outcome": "exploded"})
    with pytest.raises(ValueError, match="expected completed, pruned"):
        TrialOutcome.from_row({"status": "weird"})


def test_the_study_reads_the_typed_columns_not_the_display_text(tmp_path: Path) -> None:
    """The ``status`` cells here say the opposite of the outcome columns: the columns win."""
    params = {"method.temperature": Distribution("loguniform", 0.03, 1.0)}
    path = tmp_path / "trials.csv"
    outcomes = [TrialOutcome(Outcome.COMPLETED, "", 4), TrialOutcome(Outcome.PRUNED, "", 2),
                TrialOutcome(Outcome.FAILED, "boom", 1)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["trial", "method.temperature", "best_knn_top1", "epochs", "status", *COLUMNS])
        for n, outcome in enumerate(outcomes):
            writer.writerow([f"run_trial_0000000{n}_{n + 1}_x", "0.1", "30.0", outcome.epoch, "completed",
                             *outcome.columns().values()])
    study = study_from_trials(path, space(params))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]
    assert study.trials[1].intermediate_values == {2: 30.0}
    assert [t.user_attrs["status"] for t in study.trials] == ["completed", "pruned", "failed: boom"]
