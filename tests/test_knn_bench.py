"""Smoke tests of bench/knn.py at tiny sizes: the prediction check against scikit-learn runs,
passes on equal predictions, and explains differing ones. Speed is the bench's job, not this."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from tests.bench_scripts import load_bench

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    return load_bench("knn")


def test_compare_tiny_predictions_equal_sklearn(bench):
    # 17000 bank items: above the size where our kNN may take its bfloat16 candidate route.
    row = bench.compare(n_bank=17000, n_query=150, dim=32, k=20, repeats=1, inner=1)
    assert row.mismatches == 0 and row.notes == []
    assert 5.0 < row.top1 < 95.0  # neither trivial nor hopeless: a meaningful comparison
    assert row.sklearn_s > 0 and row.ours_s > 0 and row.weighted_s > 0
    lines = bench.format_table([row]).splitlines()
    assert "mismatches" in lines[0] and lines[2].split("|")[0].strip() == "17000"


def test_make_embeddings_long_tailed_and_seeded(bench):
    a = bench.make_embeddings(6000, 100, 16, seed=1)
    b = bench.make_embeddings(6000, 100, 16, seed=1)
    assert np.array_equal(a.bank, b.bank) and a.bank.dtype == np.float32
    counts = np.bincount(a.bank_labels, minlength=bench.NUM_CLASSES)
    assert counts[:10].sum() > 5 * counts[-10:].sum()  # head classes dominate the tail


def test_explain_mismatches_reports_the_neighbour_gap(bench):
    emb = bench.make_embeddings(500, 20, 16, seed=3)
    ours = bench.ours_predict(emb, 5, weighted=False)
    theirs = bench.sklearn_predict(emb, 5)
    assert np.array_equal(ours, theirs)
    theirs[[2, 7]] = (theirs[[2, 7]] + 1) % bench.NUM_CLASSES  # pretend two predictions differ
    rows = np.flatnonzero(ours != theirs)
    lines = bench.explain_mismatches(emb, 5, rows, ours, theirs)
    assert [int(re.search(r"query (\d+)", line).group(1)) for line in lines] == [2, 7]
    # The gap between neighbours 5 and 6 in cosine similarity, from sklearn's cosine distances.
    nn = NearestNeighbors(n_neighbors=6, metric="cosine").fit(emb.bank.astype(np.float64))
    dist, _ = nn.kneighbors(emb.queries[rows].astype(np.float64))
    for line, d in zip(lines, dist):
        reported = float(re.search(r"and 6: ([0-9.e+-]+)", line).group(1))
        assert reported == pytest.approx(d[5] - d[4], rel=1e-2, abs=1e-12)


def test_bench_script_runs_and_exits_zero():
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "knn.py"), "--banks", "3000", "--dims", "16",
         "--queries", "100", "--repeats", "1", "--threads", "1"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "predictions identical to scikit-learn" in out.stdout
