"""bench/collapse_margin.py at tiny size: its table agrees with the metrics the trainer reports
and with the collapse rule itself."""

from __future__ import annotations

import math

import pytest

from ssl_core.eval.collapse_rule import EMB_STD_FRACTION
from tests.bench_scripts import load_bench

TINY = ("model.backbone=test_resnet", "model.proj_hidden_dim=64", "model.embedding_dim=32",
        "data.batch_size=16", "data.crop_seconds=1.0", "train.max_steps_per_epoch=2")


@pytest.fixture(scope="module")
def bench():
    return load_bench("collapse_margin")


def test_run_reports_the_untrained_and_every_trained_epoch(bench, birdsong_root) -> None:
    reports = bench.run("simclr", ("method.name=simclr", *TINY), "birdsong", epochs=2)
    assert [int(m["epoch"]) for m in reports] == [0, 1, 2]
    for m in reports:
        assert m["feature_dim"] > 0 and 0 < m["emb_std"] * math.sqrt(m["feature_dim"]) < 1.5


def test_table_row_matches_the_collapse_rule(bench, birdsong_root, capsys, monkeypatch) -> None:
    # SGD at lr 30: with it SimCLR's emb_std dipped below the threshold at epoch 1 (resnet10t).
    monkeypatch.setattr("sys.argv", ["collapse_margin.py", "--epochs", "2", "--methods", "simclr", "--set", *TINY,
                                     "optim.name=sgd", "optim.lr=30", "optim.scale_lr_with_batch=false"])
    bench.main()
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| simclr |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    ratios = [float(c) for c in cells[1:4]]  # epochs 0, 1, 2
    assert float(cells[4]) == pytest.approx(min(ratios[1:]), abs=1e-3)
    fired = cells[5]
    # The printed verdict is the rule's: it fires from epoch 1 exactly where the ratio is below the fraction.
    first_below = next((e for e in (1, 2) if ratios[e] < EMB_STD_FRACTION), None)
    assert fired == ("never" if first_below is None else f"epoch {first_below}")
