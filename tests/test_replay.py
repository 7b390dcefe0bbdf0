"""Replay bookkeeping (trainables.replay) on a synthetic learning-curve table.

The table's curves rise linearly to a final value that peaks at one known grid point, and
only that point's last epoch comes within 1 point of the best, so "when does the grid
reach its best minus 1" has an answer computable from the grid's order alone.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from search_spaces import load_space, with_budget
from trainables.replay import CurveTable, ReplayRun, replay, start_local_ray

G, E, BEST = 8, 6, 5  # grid points, epochs (bench/search_efficiency.py's tables: 6), index of the best point


def asha_space(grace: int = 5):
    """simclr_temp (the default search, which has no ASHA) with the ASHA the replay bench uses."""
    return with_budget(load_space("simclr_temp"), epochs=E,
                       scheduler={"name": "asha", "grace_period": grace, "reduction_factor": 2})


def synthetic_table() -> CurveTable:
    grid = np.geomspace(0.03, 1.0, G)
    final = 90.0 - 3.0 * np.abs(np.arange(G) - BEST) - 2.0 * (np.arange(G) != BEST)  # [G]; others <= 85
    curves = tuple(tuple(float(f * e / E) for e in range(1, E + 1)) for f in final)  # [G, E]
    return CurveTable(param="method.temperature", metric="knn_top1", low=0.03, high=1.0,
                      temperatures=tuple(float(t) for t in grid), curves=curves)


@pytest.fixture(scope="module")
def ray_local():
    import ray

    start_local_ray(num_cpus=2)
    yield
    ray.shutdown()


def per_trial(run: ReplayRun) -> dict[str, list[int]]:
    epochs: dict[str, list[int]] = {}
    for trial_id, epoch, _ in run.timeline:
        epochs.setdefault(trial_id, []).append(epoch)
    return epochs


def check_reports_match_table(run: ReplayRun, table: CurveTable) -> None:
    """Every result is the table's value for the trial's grid point, which is the nearest in log space."""
    for trial_id, epoch, value in run.timeline:
        index = run.grid_index[trial_id]
        assert value == table.curves[index][epoch - 1]
        logs = np.log(np.asarray(table.temperatures))
        assert index == int(np.argmin(np.abs(logs - math.log(run.proposed[trial_id]))))
    for epochs in per_trial(run).values():  # each trial reports 1, 2, ..., k with no gaps or repeats
        assert epochs == list(range(1, len(epochs) + 1))


def test_nearest_grid_point_in_log_space() -> None:
    table = synthetic_table()
    t = table.temperatures
    assert table.nearest(t[3]) == 3
    assert table.nearest(math.sqrt(t[2] * t[3]) * 1.001) == 3  # just past the geometric midpoint
    assert table.nearest(math.sqrt(t[2] * t[3]) * 0.999) == 2  # the arithmetic midpoint would say 2 for both
    assert table.nearest(1e-6) == 0 and table.nearest(50.0) == G - 1
    assert table.best_index == BEST and table.grid_best == 90.0


def test_table_rejects_ragged_curves() -> None:
    with pytest.raises(ValueError, match="equal, non-zero length"):
        CurveTable(param="p", metric="m", low=0.1, high=1.0, temperatures=(0.1, 1.0), curves=((1.0, 2.0), (1.0,)))


def test_grid_reaches_target_exactly_when_its_best_point_is_trained(ray_local) -> None:
    table, space = synthetic_table(), asha_space()
    target = table.grid_best - 1.0
    seed = 4  # its order is checked exactly; the best point is 6th of 8 there
    run = replay(table, "grid", seed=seed, space=space, trials=G, concurrent=1)
    order = [run.grid_index[trial_id] for trial_id in per_trial(run)]
    assert sorted(order) == list(range(G))  # every grid point once
    assert order == list(np.random.default_rng(seed).permutation(G))  # the seeded order, run one at a time
    assert run.compute_to_reach(target) == E * (order.index(BEST) + 1)
    assert run.total_compute == G * E and run.best == table.grid_best
    check_reports_match_table(run, table)


def test_asha_stopped_trials_count_only_the_epochs_they_reported(ray_local) -> None:
    table = synthetic_table()
    space = asha_space(grace=2)  # ASHA grace 2, factor 2: rungs at 2 and 4
    run = replay(table, "tpe+asha", seed=0, space=space, trials=10, concurrent=2)
    epochs = {trial: len(reported) for trial, reported in per_trial(run).items()}
    assert len(epochs) == 10
    assert run.total_compute == sum(epochs.values())
    stopped = [k for k in epochs.values() if k < E]
    assert stopped, f"ASHA stopped no trial: {epochs}"
    assert set(stopped) <= {2, 4}  # a stopped trial ends at a rung, having trained that many epochs
    check_reports_match_table(run, table)
    reach = run.compute_to_reach(table.grid_best - 1.0)
    if reach is not None:  # every result before it is below the target; the one at it is not
        assert all(v < table.grid_best - 1.0 for _, _, v in run.timeline[:reach - 1])
        assert run.timeline[reach - 1][2] >= table.grid_best - 1.0


def test_random_search_trains_every_trial_to_the_end(ray_local) -> None:
    table, space = synthetic_table(), asha_space()
    run = replay(table, "random", seed=3, space=space, trials=6, concurrent=2)
    assert sorted(len(r) for r in per_trial(run).values()) == [E] * 6
    assert run.total_compute == 6 * E
    assert all(0.03 <= v <= 1.0 for v in run.proposed.values())
    assert len(set(run.proposed.values())) == 6  # continuous proposals, mapped onto the grid
    check_reports_match_table(run, table)


def test_tpe_without_asha_trains_every_trial_and_starts_from_the_same_proposals(ray_local) -> None:
    table, space = synthetic_table(), asha_space()
    plain = replay(table, "tpe", seed=2, space=space, trials=6, concurrent=1)
    assert sorted(len(r) for r in per_trial(plain).values()) == [E] * 6  # nothing stopped early
    assert plain.total_compute == 6 * E
    check_reports_match_table(plain, table)
    # Same searcher, same seed: the random start-up proposals (the first trials, run one at a
    # time) are the same points whether or not ASHA follows.
    with_asha = replay(table, "tpe+asha", seed=2, space=space, trials=6, concurrent=1)
    first = [plain.proposed[t] for t in list(per_trial(plain))[:2]]
    assert first == [with_asha.proposed[t] for t in list(per_trial(with_asha))[:2]]
