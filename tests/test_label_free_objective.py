"""The label-free objective (RankMe) and its agreement with kNN in the summary.

- ``rankme`` is the RankMe formula on the *backbone* representation of train + val, checked
  against a numpy SVD written here;
- a space or a config may choose it as objective (and not on projector features);
- a run on a folder of mostly unlabelled recordings keeps its best checkpoint by it;
- the agreement line is scipy's Spearman, says "too few trials" below 5, and a real tiny search
  (slow) prints it in its summary.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import stats

from ssl_core.checkpoint import read_checkpoint
from ssl_core.config import ConfigError, load_config
from ssl_core.data import load_dataset
from ssl_core.eval.evaluate import SplitEmbeddings, embedding_metrics
from ssl_core.eval.rank_agreement import MIN_TRIALS, agreement_line, rank_agreement
from ssl_core.run_layout import best_checkpoint
from ssl_core.trainer import train
from tests.tiny import tiny_config, tiny_space_text

REPO = Path(__file__).resolve().parents[1]


def _rankme_numpy(z: np.ndarray, eps: float = 1e-7) -> float:
    """Garrido et al. 2023, Eq. 1, written independently: p_k = sigma_k / ||sigma||_1 + eps."""
    s = np.linalg.svd(z, compute_uv=False)
    p = s / s.sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


def _split(n: int, d: int, seed: int, rank: int) -> SplitEmbeddings:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, d))  # rank-`rank` features
    return SplitEmbeddings(torch.tensor(z, dtype=torch.float32), torch.tensor(rng.integers(0, 4, n)))


def test_rankme_is_the_rank_of_bank_and_queries_together_and_only_on_backbone_features() -> None:
    bank, queries = _split(120, 64, 0, 48), _split(40, 64, 1, 48)
    common = dict(k=5, temperature=0.07, train_labels_for_groups=bank.labels, clustering=False,
                  linear_probe=False, seed=0)
    metrics = embedding_metrics(bank, queries, 4, backbone_features=True, **common)
    both = torch.cat([bank.features, queries.features]).double().numpy()
    assert metrics["rankme"] == pytest.approx(_rankme_numpy(both), rel=1e-4)
    # The queries alone (eff_rank) are bounded by their 40 rows; train + val reach the features' rank.
    assert metrics["eff_rank"] < 40 < metrics["rankme"] <= 64
    assert "rankme" not in embedding_metrics(bank, queries, 4, backbone_features=False, **common)


def test_rankme_objective_config_and_space(tmp_path) -> None:
    cfg = load_config(None, ["eval.objective=rankme"])
    assert cfg.eval.objective == "rankme"
    with pytest.raises(ConfigError, match="eval.features=backbone"):
        load_config(None, ["eval.objective=rankme", "eval.features=projector"])
    with pytest.raises(ConfigError, match="objective_mode=max"):
        load_config(None, ["eval.objective=rankme", "eval.objective_mode=min"])
    from search_spaces import load_space

    path = tmp_path / "rankme.yaml"
    path.write_text(tiny_space_text({"method.temperature": {"loguniform": [0.05, 1.0]}}, trials=2, epochs=1,
                                    concurrent=1, objective={"metric": "rankme", "mode": "max"}))
    space = load_space(path)
    assert (space.metric, space.mode) == ("rankme", "max")


def test_a_run_on_mostly_unlabelled_recordings_keeps_its_best_checkpoint_by_rankme(tmp_path, birdsong_root) -> None:
    """An audio folder with 3 labelled classes (val and test need some labels) and more unlabelled
    recordings than labelled ones: SSL trains on all, rankme ranks the checkpoints."""
    index = load_dataset(str(birdsong_root), format="birdclef")
    labels = index.labels()
    root = tmp_path / "birds"
    for cls in range(3):
        for n, i in enumerate(np.flatnonzero(labels == cls)[:4]):
            (root / index.class_names[cls]).mkdir(parents=True, exist_ok=True)
            shutil.copy(index.items[i].path, root / index.class_names[cls] / f"{n}.ogg")
    (root / "_unlabelled").mkdir()
    for n, i in enumerate(np.flatnonzero(labels >= 3)[:20]):
        shutil.copy(index.items[i].path, root / "_unlabelled" / f"u{n}.ogg")
    run_dir = tmp_path / "run"
    cfg = tiny_config("simclr", run_dir, dataset=str(root), epochs=2, steps=2,
                      extra=("data.batch_size=8", "eval.objective=rankme", "eval.linear_probe=never",
                             f"data.cache_dir={tmp_path / 'cache'}", "data.split_fractions=[0.5, 0.25, 0.25]"))
    history: list[dict] = []
    train(cfg, run_dir=run_dir, report=lambda metrics, _: history.append(dict(metrics)))
    assert all(math.isfinite(m["rankme"]) and m["rankme"] > 1 for m in history)
    best = max(history, key=lambda m: (m["rankme"], m["epoch"]))  # ties go to the later epoch
    state = read_checkpoint(best_checkpoint(run_dir))
    assert state["epoch"] == best["epoch"] and state["best_objective"] == pytest.approx(best["rankme"])


def test_agreement_is_scipys_spearman_and_says_too_few_below_five() -> None:
    free, knn = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0], [30.0, 12.0, 41.0, 10.0, 50.0, 48.0, 25.0]
    expected = stats.spearmanr(free, knn)
    got = rank_agreement(free + [math.nan], knn + [1.0])  # a pair with a missing value is dropped
    assert (got.rho, got.p_value, got.n) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue), 7)
    line = agreement_line("rankme", got, "rankme")
    assert f"Spearman rho {expected.statistic:+.2f}" in line and "n = 7 trials" in line
    assert "the rankings agree" in line and "the label-free objective rankme" in line
    few = rank_agreement(free[:MIN_TRIALS - 1], knn[:MIN_TRIALS - 1])
    assert "too few trials to tell (n=4" in agreement_line("rankme", few, "knn_top1")
    inverted = rank_agreement([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
    assert "are inverted" in agreement_line("rankme", inverted, "rankme")
    assert "too few trials" in agreement_line("rankme", rank_agreement([2.0] * 6, list(range(6))), "rankme")


def test_summary_notes_pair_each_trial_at_its_scored_evaluation() -> None:
    from trainables.results import label_free_notes

    rows = [SimpleNamespace(at_best={"rankme": r, "knn_top1": k}) for r, k in
            [(10, 20), (12, 25), (11, 22), (15, 30), (14, 28), (13, 40)]]
    rows.append(SimpleNamespace(at_best={"knn_top1": 50.0}))  # a trial without rankme is left out
    [line] = label_free_notes(rows, SimpleNamespace(metric="knn_top1"))
    rho = stats.spearmanr([10, 12, 11, 15, 14, 13], [20, 25, 22, 30, 28, 40]).statistic
    assert f"rho {rho:+.2f}" in line and "n = 6 trials" in line and "the label-free metric rankme" in line
    assert label_free_notes([SimpleNamespace(at_best={"knn_top1": 1.0})], SimpleNamespace(metric="knn_top1")) == []


@pytest.mark.slow
def test_a_real_search_ranked_by_rankme_reports_its_agreement_with_knn(tmp_path, data_cache, birdsong_root) -> None:
    space = tmp_path / "rankme.yaml"
    space.write_text(tiny_space_text({"method.temperature": {"loguniform": [0.03, 1.0]}}, trials=5, epochs=1,
                                     concurrent=2, objective={"metric": "rankme", "mode": "max"},
                                     base={"eval": {"linear_probe": "never", "clustering": False}}))
    env = dict(os.environ, SSL_SEARCH_CACHE=str(data_cache))
    proc = subprocess.run([sys.executable, "launch.py", "--space", str(space), "--storage", str(tmp_path / "runs"),
                           "--name", "rankme"], cwd=REPO, env=env, text=True, capture_output=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = (tmp_path / "runs" / "rankme" / "summary.md").read_text()
    assert "objective rankme (max)" in summary
    [line] = [s for s in summary.splitlines() if s.startswith("label-free check:")]
    assert "the label-free objective rankme against knn_top1" in line and "n = 5 trials" in line, line
