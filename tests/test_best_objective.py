"""One meaning of "best": the trainer's best checkpoint and the search's ranking follow the objective.

Checked against plain Python (max/min over the evaluations after epoch 0, latest among ties),
on a real trainer run and on real Ray Tune ``Result`` objects read by the search's ranking.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from ray.tune import Result

from search_spaces import load_space
from ssl_core.checkpoint import read_checkpoint
from ssl_core.config import ConfigError, load_config
from ssl_core.objective import best_evaluation, is_improvement
from ssl_core.run import best_checkpoint
from ssl_core.trainer import train
from tests.tiny import tiny_config, tiny_space_text
from trainables.outcome import Outcome
from trainables.results import trial_rows


def reference_best(history: list[tuple[int, float]], mode: str) -> tuple[float, int | None]:
    """The rule in words: the best finite value after epoch 0; the latest epoch among equal values."""
    trained = [(e, v) for e, v in history if e > 0 and math.isfinite(v)]
    if not trained:
        return math.nan, None
    target = max(v for _, v in trained) if mode == "max" else min(v for _, v in trained)
    return target, max(e for e, v in trained if v == target)


@pytest.mark.parametrize("history", [
    [(0, 40.0), (1, 20.0), (2, 30.0)],  # the untrained network scored best: never the score
    [(0, 10.0), (1, 30.0), (2, 30.0), (3, 25.0)],  # a tie: the later epoch
    [(0, 5.0), (1, math.nan), (2, 7.0)],
    [(0, 50.0)],  # only epoch 0: no score at all
    [(1, math.nan)],
])
@pytest.mark.parametrize("mode", ["max", "min"])
def test_best_evaluation_matches_the_rule(history, mode) -> None:
    got = best_evaluation(history, mode)
    want = reference_best(history, mode)
    assert (math.isnan(got[0]) and math.isnan(want[0])) or got[0] == want[0]
    assert got[1] == want[1]


def test_is_improvement_refuses_nan_and_unknown_modes() -> None:
    assert is_improvement(1.0, math.nan, "max") and not is_improvement(math.nan, 1.0, "max")
    assert is_improvement(2.0, 2.0, "min") and not is_improvement(2.1, 2.0, "min")
    with pytest.raises(ValueError, match="mode"):
        is_improvement(1.0, 0.0, "maximise")


def test_objective_is_validated_with_the_fields_it_needs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="eval.objective='knn' is invalid"):
        load_config(None, ["eval.objective=knn"])
    # A cross-field refusal leads with the field the user set, and names the one to change.
    with pytest.raises(ConfigError, match=r"eval.objective='linear_top1' is invalid: .*only with "
                                          r"eval.linear_probe=every"):
        load_config(None, ["eval.objective=linear_top1"])
    with pytest.raises(ConfigError, match="eval.objective_mode='min' is invalid: eval.objective=knn_top1 is better "
                                          "when higher"):
        load_config(None, ["eval.objective_mode=min"])
    assert load_config(None, ["eval.objective=davies_bouldin", "eval.objective_mode=min"]).eval.objective_mode == "min"


def test_trainer_keeps_the_best_checkpoint_by_a_minimised_objective(tmp_path: Path, birdsong_root) -> None:
    cfg = tiny_config("simclr", tmp_path, epochs=3, steps=3,
                      extra=("eval.objective=davies_bouldin", "eval.objective_mode=min", "eval.before_training=true"))
    reports: list[dict] = []
    train(cfg, report=lambda m, _ckpt: reports.append(dict(m)), run_dir=tmp_path)
    history = [(int(r["epoch"]), float(r["davies_bouldin"])) for r in reports]
    value, epoch = reference_best(history, "min")
    state = read_checkpoint(best_checkpoint(tmp_path))
    assert state["epoch"] == epoch and state["metrics"]["davies_bouldin"] == pytest.approx(value)
    assert state["best_objective"] == pytest.approx(value)
    assert not math.isclose(value, history[0][1]) or epoch != 0  # epoch 0 is never the checkpoint


def _result(trial: str, epochs: list[int], values: list[float], tmp_path: Path) -> Result:
    """A real Tune ``Result`` as ``ExperimentAnalysis`` builds it: last metrics plus the history."""
    history = pd.DataFrame({"epoch": epochs, "knn_top1": values, "time_total_s": [float(e) for e in epochs]})
    path = tmp_path / trial
    path.mkdir()
    return Result(metrics=history.iloc[-1].to_dict(), checkpoint=None, error=None, path=str(path),
                  metrics_dataframe=history)


def test_a_trial_whose_only_good_score_is_epoch_0_is_not_ranked_by_it(tmp_path: Path) -> None:
    space_file = tmp_path / "space.yaml"
    space_file.write_text(tiny_space_text({"method.temperature": {"loguniform": [0.05, 1.0]}}, trials=2, epochs=2,
                                          concurrent=1, scheduler={"name": "none"}))
    space = load_space(space_file)
    lucky = _result("run_trial_aaaaaaaa_1_x", [0, 1, 2], [60.0, 20.0, 21.0], tmp_path)  # untrained 60
    steady = _result("run_trial_bbbbbbbb_2_x", [0, 1, 2], [10.0, 30.0, 35.0], tmp_path)
    rows = trial_rows([lucky, steady], space)
    assert [r.name for r in rows] == ["run_trial_bbbbbbbb_2_x", "run_trial_aaaaaaaa_1_x"]
    assert (rows[0].best, rows[0].best_epoch) == (35.0, 2)
    assert (rows[1].best, rows[1].best_epoch) == (21.0, 2)  # not 60, epoch 0's
    assert all(r.outcome.kind is Outcome.COMPLETED for r in rows)
    only_untrained = _result("run_trial_cccccccc_3_x", [0], [90.0], tmp_path)
    [row] = trial_rows([only_untrained], space)
    assert math.isnan(row.best) and row.best_epoch is None and row.outcome.kind is Outcome.PRUNED
