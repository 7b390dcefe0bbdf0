"""The verdict on real trained runs: a run that learns nothing does not beat its untrained network;
one that learns does.

Data: the embedded digits (real handwritten digits, 10 balanced classes, 269 test images), with
timm's test_resnet. Supervised training for 3 short epochs moves kNN top-1 far above the
untrained network (tens of points, against an interval of about +-5 on 269 test items), so the
"beats" case is stable across machines. A learning rate of 1e-7 leaves the weights unchanged;
only its batch-norm statistics adapt to the data (worth +16 points of val kNN on digits), and the
untrained baseline has those re-estimated too, so the two score within a point or two.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ssl_core.trainer import train
from ssl_core.verdict import decide, score_fixed_features, score_runs
from tests.tiny import tiny_config

pytestmark = pytest.mark.slow


def _trained(tmp_path: Path, name: str, method: str, lr: str) -> Path:
    cfg = tiny_config(method, tmp_path / name, dataset="digits", epochs=3, steps=20,
                      extra=(f"optim.lr={lr}", "data.batch_size=32", "eval.linear_probe=never",
                             "eval.clustering=false", "data.image_size=32"))
    train(cfg)
    return tmp_path / name / "checkpoints" / "best"


def test_a_run_that_learns_nothing_does_not_beat_its_untrained_network(tmp_path, digits_root) -> None:
    checkpoint = _trained(tmp_path, "frozen", "simclr", "1e-7")
    best, untrained = score_runs([checkpoint], "lr 1e-7")
    verdict = decide(best, [(untrained, True)], "knn_top1")
    comp = verdict.comparisons[0]
    assert not comp.difference.beats and comp.word.startswith("does not beat")
    assert abs(comp.difference.delta) < 2
    assert "does not beat it" in verdict.lines()[1]


def test_a_run_that_learns_beats_its_untrained_network(tmp_path, digits_root) -> None:
    checkpoint = _trained(tmp_path, "learns", "supervised", "0.01")
    best, untrained = score_runs([checkpoint], "supervised")
    fixed = score_fixed_features(checkpoint)
    verdict = decide(best, [(untrained, True), (fixed, False)], "knn_top1")
    comp = verdict.comparisons[0]
    assert comp.difference.beats, verdict.lines()
    assert comp.word == "beats it"
    assert best.hits.shape == untrained.hits.shape == fixed.hits.shape == (1, best.labels.shape[0])
    assert "beats it" in verdict.lines()[1]
