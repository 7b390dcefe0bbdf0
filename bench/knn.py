"""Our kNN evaluation vs scikit-learn's KNeighborsClassifier (brute force, cosine), same embeddings.

For every bank size and dimension D, the same float32 embeddings go to

* ``sklearn``: ``KNeighborsClassifier(n_neighbors=k, algorithm="brute", metric="cosine",
  weights="uniform")``, timed ``fit`` + ``predict``;
* ``ours``: :func:`ssl_core.eval.knn.knn_predict` with ``weighted=False``, the same majority
  vote (ties to the lowest class in both), timed from the float32 arrays to predictions;
* ``ours w.``: the weighted InstDisc vote that the trainer reports (k, T=0.07); timed only,
  its predictions legitimately differ from a majority vote.

Predictions of ``sklearn`` and ``ours`` must be identical: the script exits 1 otherwise and, for
every differing query, prints the float64 gap between the k-th and (k+1)-th similarity (a gap
near 1e-7 is a float32 tie, which either side may break its own way).

Embeddings: synthetic, class-clustered Gaussians with a fixed seed, C=397 long-tailed classes
(BirdCLEF-like, head/tail frequency ratio 100), a shared offset (real embeddings are anisotropic,
mean cosine 0.1-0.3 here), noise set so that kNN top-1 is about 50 %. Queries come from the same
distribution. Both sides run with the same number of threads: ``torch.set_num_threads`` for ours,
``threadpoolctl.threadpool_limits`` for the BLAS that scikit-learn's cosine distances use (its
``argpartition`` is single-threaded numpy in any case).

The machine may be shared, and load comes in bursts, so timing is side by side: each of
``--repeats`` repeats runs sklearn once and each of ours ``--inner`` times (they are short), the
order alternating between repeats. Seconds are medians; a speedup is the median over repeats of
sklearn's time over ours within the same repeat.

Defaults take about 3-4 minutes on 2 cores (sklearn at 200k items and D=512 is ~11 s a run).

    python bench/knn.py [--banks 10000 50000 200000] [--dims 512 128] [--queries 2000]
                        [--repeats 5] [--inner 3] [--threads 2] [--quick]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sklearn
import torch
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

from ssl_core.eval.knn import knn_predict
from ssl_core.eval.knn_search import uses_bf16_search

NUM_CLASSES = 397
HEAD_TAIL_RATIO = 100.0


@dataclass
class Embeddings:
    bank: np.ndarray  # [Nb, D] float32
    bank_labels: np.ndarray  # [Nb] int64
    queries: np.ndarray  # [Nq, D] float32
    query_labels: np.ndarray  # [Nq] int64


def default_noise(dim: int) -> float:
    """Noise std that gives kNN top-1 of about 50 % (2.5 at D=128, 4.0 at D=512)."""
    return 2.5 * (dim / 128) ** (1 / 3)


def make_embeddings(n_bank: int, n_query: int, dim: int, num_classes: int = NUM_CLASSES,
                    noise: float | None = None, seed: int = 0) -> Embeddings:
    """Long-tailed class-clustered Gaussians: offset + centre[y] + noise * N(0, I), float32."""
    rng = np.random.default_rng(seed)
    alpha = np.log(HEAD_TAIL_RATIO) / np.log(num_classes)  # p_c ~ 1 / rank^alpha
    p = 1.0 / np.arange(1, num_classes + 1) ** alpha
    centres = rng.standard_normal((num_classes, dim), dtype=np.float32)
    offset = 1.5 * rng.standard_normal(dim, dtype=np.float32)
    sigma = default_noise(dim) if noise is None else noise
    n = n_bank + n_query
    labels = rng.choice(num_classes, size=n, p=p / p.sum()).astype(np.int64)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x *= sigma
    x += centres[labels]
    x += offset
    return Embeddings(x[:n_bank], labels[:n_bank], x[n_bank:], labels[n_bank:])


def sklearn_predict(emb: Embeddings, k: int) -> np.ndarray:
    clf = KNeighborsClassifier(n_neighbors=k, algorithm="brute", metric="cosine", weights="uniform")
    return clf.fit(emb.bank, emb.bank_labels).predict(emb.queries)


def ours_predict(emb: Embeddings, k: int, weighted: bool, num_classes: int = NUM_CLASSES) -> np.ndarray:
    pred = knn_predict(torch.from_numpy(emb.bank), torch.from_numpy(emb.bank_labels),
                       torch.from_numpy(emb.queries), num_classes, k=k, weighted=weighted)
    return pred.numpy()


def route(emb: Embeddings, k: int) -> str:
    """Which neighbour search knn_predict takes for this bank on this machine."""
    bf16 = uses_bf16_search(emb.bank.shape[0], k, torch.float32, torch.device("cpu"))
    return "bf16+f32" if bf16 else "f32"


def explain_mismatches(emb: Embeddings, k: int, rows: np.ndarray, ours: np.ndarray,
                       theirs: np.ndarray, limit: int = 10) -> list[str]:
    """For differing queries: the float64 similarity gap between neighbours k and k+1."""
    bank = emb.bank.astype(np.float64)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    lines = []
    for i in rows[:limit]:
        q = emb.queries[i].astype(np.float64)
        sims = np.sort(bank @ (q / np.linalg.norm(q)))[::-1]
        gap = sims[k - 1] - sims[k] if sims.shape[0] > k else float("inf")
        lines.append(f"  query {i}: ours {ours[i]}, sklearn {theirs[i]}, float64 gap between "
                     f"neighbour {k} and {k + 1}: {gap:.2e}" + ("  (a float32 tie)" if gap < 1e-6 else ""))
    return lines


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def timed(run: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


@dataclass
class Row:
    n_bank: int
    n_query: int
    dim: int
    sklearn_s: float  # median over repeats
    ours_s: float  # median over all runs
    weighted_s: float
    speedup: float  # median over repeats of sklearn s / ours s within the repeat
    weighted_speedup: float
    mismatches: int
    top1: float
    route: str
    load: float  # 1-minute load average when the row finished
    notes: list[str]


def compare(n_bank: int, n_query: int, dim: int, k: int, repeats: int, inner: int = 3, seed: int = 0,
            noise: float | None = None) -> Row:
    """Time both sides on the same embeddings, side by side; count differing predictions.

    Each repeat runs sklearn once and each of our variants `inner` times (ours are short, so a
    load spike of the shared machine would otherwise decide the median), in alternating order.
    Speedups are medians over repeats of the ratio measured within one repeat.
    """
    emb = make_embeddings(n_bank, n_query, dim, noise=noise, seed=seed)
    jobs = {"sklearn": (1, lambda: sklearn_predict(emb, k)),
            "ours": (inner, lambda: ours_predict(emb, k, weighted=False)),
            "weighted": (inner, lambda: ours_predict(emb, k, weighted=True))}
    runs: dict[str, list[list[float]]] = {name: [] for name in jobs}
    preds: dict[str, np.ndarray] = {}
    for r in range(repeats):
        for name in (list(jobs) if r % 2 == 0 else list(jobs)[::-1]):
            times = []
            for _ in range(jobs[name][0]):
                seconds, preds[name] = timed(jobs[name][1])
                times.append(seconds)
            runs[name].append(times)
    per_repeat = {name: [statistics.median(t) for t in runs[name]] for name in runs}

    def speedup(name: str) -> float:
        return statistics.median(a / b for a, b in zip(per_repeat["sklearn"], per_repeat[name]))

    differ = np.flatnonzero(preds["sklearn"] != preds["ours"])
    notes = explain_mismatches(emb, k, differ, preds["ours"], preds["sklearn"]) if differ.size else []
    return Row(n_bank, n_query, dim, *(statistics.median(sum(runs[n], [])) for n in jobs),
               speedup("ours"), speedup("weighted"), int(differ.size),
               100.0 * float(np.mean(preds["sklearn"] == emb.query_labels)), route(emb, k), load_average(),
               notes)


def format_table(rows: list[Row]) -> str:
    header = (f"{'bank':>7} | {'queries':>7} | {'D':>4} | {'sklearn s':>9} | {'ours s':>7} | "
              f"{'speedup':>7} | {'ours w. s':>9} | {'w. speedup':>10} | {'mismatches':>10} | "
              f"{'top-1 %':>7} | {'route':<8} | load")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r.n_bank:>7} | {r.n_query:>7} | {r.dim:>4} | {r.sklearn_s:>9.3f} | {r.ours_s:>7.3f} | "
                     f"{r.speedup:>6.1f}x | {r.weighted_s:>9.3f} | "
                     f"{r.weighted_speedup:>9.1f}x | {r.mismatches:>10} | {r.top1:>7.1f} | {r.route:<8} | {r.load:.1f}")
        lines.extend(r.notes)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--banks", type=int, nargs="+", default=[10000, 50000, 200000], help="bank sizes")
    parser.add_argument("--dims", type=int, nargs="+", default=[512, 128],
                        help="embedding dimensions (512: ResNet-18/34 backbones; 128: projection heads)")
    parser.add_argument("--queries", type=int, default=2000,
                        help="queries per row; 2000 keeps sklearn at 200k x 512 near 15 s a run on 2 cores")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5, help="side-by-side repeats per row (median)")
    parser.add_argument("--inner", type=int, default=3, help="runs of each of ours per repeat")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads for both sides: torch.set_num_threads and threadpool_limits")
    parser.add_argument("--noise", type=float, default=None, help="noise std (default: top-1 about 50 %%)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="banks 10000 50000, D=128, 1000 queries, 3 repeats (about 20 s)")
    args = parser.parse_args()
    if args.quick:
        args.banks, args.dims, args.queries, args.repeats = [10000, 50000], [128], 1000, 3
    torch.set_num_threads(args.threads)
    print(f"kNN k={args.k}, C={NUM_CLASSES} long-tailed classes, float32; threads {args.threads} "
          f"(torch {torch.__version__}, scikit-learn {sklearn.__version__}), {os.cpu_count()} CPUs, "
          f"load average {load_average():.1f}; {args.repeats} side-by-side repeats (ours run {args.inner}x in each); "
          f"seconds: medians; speedup: median over repeats of sklearn s / ours s in the same repeat")
    rows = []
    with threadpool_limits(limits=args.threads):
        warm = make_embeddings(20000, 100, 16, seed=args.seed + 1)  # library and thread-pool start-up
        sklearn_predict(warm, args.k), ours_predict(warm, args.k, weighted=True)
        for dim in args.dims:
            for n_bank in args.banks:
                rows.append(compare(n_bank, args.queries, dim, args.k, args.repeats, args.inner, args.seed,
                                    args.noise))
                print(f"done: bank {n_bank}, D={dim}", flush=True)
    print(format_table(rows))
    bad = sum(r.mismatches for r in rows)
    if bad:
        print(f"FAIL: {bad} predictions differ from scikit-learn")
        return 1
    print("predictions identical to scikit-learn in every row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
