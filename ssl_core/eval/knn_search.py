"""Top-k cosine neighbours of queries in a bank: one float32 matmul, or a faster exact route.

On CPUs with native bfloat16 dot products (AVX512-BF16, AMX), float32 inputs take a faster
route to the *same* neighbours: a bfloat16 matmul (about 3-4x the float32 throughput) ranks the
bank approximately, a rigorous bound on its rounding error (Cauchy-Schwarz on the measured
rounding of every vector, plus float32 accumulation and the bfloat16 output rounding) keeps
every item that could still be among the exact top k, and those few candidates are re-scored
in float32. Queries whose candidates do not fit the budget (e.g. collapsed embeddings where
everything is a near-tie) are scored by the exact float32 matmul instead. So the neighbours are
those of the float32 computation up to float32 rounding, which is what scikit-learn computes
too (bench/knn.py checks predictions against KNeighborsClassifier).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_U_BF16 = 2.0**-8  # unit roundoff of round-to-nearest into bfloat16 (8-bit significand)
_U_FP32 = 2.0**-24
# Below this bank size the plain float32 pass is as fast (bench/knn.py, 10k items, 2 cores)
# and, being one matmul, suffers less from other processes competing for the cores.
_BF16_MIN_BANK = 16384
# Candidates first kept per query by the bfloat16 pass. 3k + 40 covers the rigorous error
# window (about 2 * 0.004 in cosine) of ~99 % of queries on the synthetic embeddings of
# bench/knn.py (k=20: 30-50 candidates, rarely above 80); the rest retry with 4x as many, and
# queries that would need more than Nb / 8 take the exact float32 pass.
_BF16_CAND_FACTOR, _BF16_CAND_EXTRA = 3, 40
_GATHER_ELEMS = 1 << 23  # float32 elements per re-scoring block (32 MiB, about L3)


def working_dtype_of(dtype: torch.dtype) -> torch.dtype:
    # Half precision loses too much in exp(s / T) and in the similarity ranking; keep
    # float32/float64 as given (float64 lets tests compare bit-for-bit with references).
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


@dataclass
class _Bank:
    """A normalised bank [Nb, D] and, on the bfloat16 route, its rounded copy and error bounds."""

    n: torch.Tensor  # [Nb, D] L2-normalised, float32/float64
    bf16: torch.Tensor | None = None  # [Nb, D] n rounded to bfloat16; None: exact route only
    err_max: float = 0.0  # max_j ||n_j - bf16_j||
    norm_max: float = 0.0  # max_j ||n_j||
    _scores: torch.Tensor | None = None  # reused [B, Nb] bfloat16 output of the coarse matmul

    def coarse_scores(self, q_b: torch.Tensor) -> torch.Tensor:
        """q_b [B, D] bfloat16 @ bf16.T -> [B, Nb] bfloat16, written into one reused buffer.

        A fresh [1024, 50k] output page-faults on every 4 KiB page it touches: a quarter of the
        matmul's own time on 2 cores (bench/knn.py). The buffer is only valid until the next call.
        """
        assert self.bf16 is not None
        b, nb = q_b.shape[0], self.bf16.shape[0]
        if self._scores is None or self._scores.shape[0] < b:
            self._scores = torch.empty(b, nb, dtype=torch.bfloat16, device=self.bf16.device)
        return torch.matmul(q_b, self.bf16.T, out=self._scores[:b])

    @property
    def bf16_norm_max(self) -> float:
        """Bound on max_j ||bf16_j|| by the triangle inequality."""
        return self.norm_max + self.err_max


def _bf16_matmul_is_fast(device: torch.device) -> bool:
    """True on CPUs whose oneDNN has native bfloat16 dot products (else bf16 is emulated)."""
    if device.type != "cpu":
        return False  # GPUs run the float32 matmul fast enough; keep the one exact route
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def uses_bf16_search(n_bank: int, k: int, dtype: torch.dtype, device: torch.device) -> bool:
    """Whether a bank of n_bank items takes the bfloat16 candidate search (same neighbours)."""
    return (
        working_dtype_of(dtype) == torch.float32
        and n_bank >= max(_BF16_MIN_BANK, 8 * (_BF16_CAND_FACTOR * k + _BF16_CAND_EXTRA))
        and _bf16_matmul_is_fast(device)
    )


def prepare_bank(bank_n: torch.Tensor, k: int) -> _Bank:
    """Wrap the normalised bank; add the bfloat16 copy when the fast route applies."""
    if not uses_bf16_search(bank_n.shape[0], k, bank_n.dtype, bank_n.device):
        return _Bank(bank_n)
    return _bf16_bank(bank_n)


def _bf16_bank(bank_n: torch.Tensor) -> _Bank:
    """The float32 bank [Nb, D], its bfloat16 copy and the bounds the candidate search needs."""
    nb = bank_n.shape[0]
    bank_b = bank_n.to(torch.bfloat16)
    err = bank_n.new_empty(nb)
    norm = bank_n.new_empty(nb)
    block = max(1, 2 * _GATHER_ELEMS // bank_n.shape[1])
    buf = bank_n.new_empty(block, bank_n.shape[1])  # reused: fresh ones would page-fault
    for s in range(0, nb, block):
        rows = bank_n[s : s + block]
        torch.linalg.vector_norm(rows, dim=1, out=norm[s : s + block])
        rounded = buf[: rows.shape[0]].copy_(bank_b[s : s + block])
        diff = torch.sub(rounded, rows, out=rounded)
        torch.linalg.vector_norm(diff, dim=1, out=err[s : s + block])
    return _Bank(bank_n, bank_b, float(err.max()), float(norm.max()))


def topk_neighbours(q: torch.Tensor, bank: _Bank, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k cosine similarities and bank indices of normalised queries q [B, D] -> 2x [B, k]."""
    if bank.bf16 is None:
        return (q @ bank.n.T).topk(k, dim=1)  # [B, Nb] -> [B, k]
    return _topk_bf16_candidates(q, bank, k)


def _topk_bf16_candidates(
    q: torch.Tensor, bank: _Bank, k: int, stats: dict[str, int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact float32 top-k of q [B, D] against bank.n, searched through a bfloat16 matmul.

    Let a be the bfloat16 matmul output and s' the float32 similarity of the re-scoring, for
    one query and one bank item. Then |a - s'| <= e + w|a|, where e bounds the input rounding,
    ||q - q~|| max||b~|| + ||q|| max||b - b~|| (Cauchy-Schwarz, ~ stands for bfloat16), plus the
    float32 accumulation error of both products, and w|a| (w = u / (1 - u), u = 2^-8) bounds
    the rounding of the output to bfloat16. As x - w|x| and x + w|x| increase with x: the k
    items with the largest a (the k-th being t) all have s' >= t - w|t| - e =: L, so the k-th
    largest s' is >= L; and an item with a < thr, where thr + w|thr| = L - e, has s' < L and
    cannot be among the top k. Only the items with a >= thr are re-scored in float32.

    ``stats``, if given, counts queries per route: "first" (the first candidate list held all
    candidates), "wider" (a longer list did), "exact" (the float32 matmul).
    """
    nb, d = bank.n.shape
    m = _BF16_CAND_FACTOR * k + _BF16_CAND_EXTRA  # first candidate list per query
    if 8 * m > nb:  # too small a bank for candidates to pay off
        _count(stats, "exact", q.shape[0])
        return (q @ bank.n.T).topk(k, dim=1)
    q_b = q.to(torch.bfloat16)
    q_err = torch.linalg.vector_norm(q - q_b, dim=1)  # [B]; q~ is exact in float32
    q_norm = torch.linalg.vector_norm(q, dim=1)
    gamma = 2 * d * _U_FP32 / (1 - 2 * d * _U_FP32)  # float32 dot of d terms, with margin
    eps = (
        q_err * bank.bf16_norm_max
        + q_norm * bank.err_max
        + gamma * (q_norm + q_err) * bank.bf16_norm_max  # bfloat16 matmul's accumulation
        + gamma * q_norm * bank.norm_max  # float32 re-scoring
    ) * 1.01 + 1e-6  # [B]; margin for the float32 evaluation of the bound itself

    # Few, large operations: on a CPU shared with other processes every parallel region can
    # wait for a time slice, so the common case (all queries covered) takes the short path.
    approx = bank.coarse_scores(q_b)  # [B, Nb] bfloat16, float32 accumulation inside oneDNN
    a_val, a_idx = approx.topk(m, dim=1)  # [B, m], sorted descending
    thr = _candidate_threshold(a_val, k, eps)
    # Every item outside the m kept has a <= a_val[:, -1]; below thr it cannot be a neighbour.
    covered = a_val[:, -1] < thr
    if bool(covered.all()):
        _count(stats, "first", q.shape[0])
        return _rescore(q, bank.n, a_val, a_idx, thr, k)

    top_sim = q.new_empty(q.shape[0], k)
    top_idx = torch.empty(q.shape[0], k, dtype=torch.int64, device=q.device)
    rows = torch.arange(q.shape[0], device=q.device)
    route = "first"
    while True:
        done = covered.nonzero().flatten()  # positions in `rows`
        if done.numel():
            top_sim[rows[done]], top_idx[rows[done]] = _rescore(
                q[rows[done]], bank.n, a_val[done], a_idx[done], thr[done], k
            )
            _count(stats, route, done.numel())
        rows, m, route = rows[~covered], 4 * m, "wider"  # the rest: a 4x longer list
        if not rows.numel():
            return top_sim, top_idx
        if 8 * m > nb:  # too many near-ties for candidates to pay off: exact float32 pass
            top_sim[rows], top_idx[rows] = (q[rows] @ bank.n.T).topk(k, dim=1)
            _count(stats, "exact", rows.numel())
            return top_sim, top_idx
        a_val, a_idx = approx[rows].topk(m, dim=1)
        thr = _candidate_threshold(a_val, k, eps[rows])
        covered = a_val[:, -1] < thr


def _candidate_threshold(a_val: torch.Tensor, k: int, eps: torch.Tensor) -> torch.Tensor:
    """thr [r] with thr + w|thr| = t - w|t| - 2 eps, t the k-th largest of a_val [r, m]."""
    w = _U_BF16 / (1 - _U_BF16) * 1.01
    t = a_val[:, k - 1].float()
    y = t - w * t.abs() - 2 * eps
    return torch.where(y >= 0, y / (1 + w), y / (1 - w))


def _rescore(
    q: torch.Tensor,
    bank_n: torch.Tensor,
    a_val: torch.Tensor,
    a_idx: torch.Tensor,
    thr: torch.Tensor,
    k: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 top-k of q [r, D] among its candidates (a_val >= thr; a_val sorted) -> 2x [r, k].

    Candidate counts vary a lot between queries (k=20: mostly 30-50, a few above 100), so the
    queries are re-scored in blocks of similar count, each gathering only as many candidates as
    its largest member needs (a rectangle per block), rather than one rectangle sized by the
    largest count of all: about half the gathered bytes, and the gather is memory-bound.
    """
    r, d = q.shape
    counts = (a_val >= thr[:, None]).sum(dim=1)  # [r], each >= k since thr < t
    order = torch.argsort(counts)
    sorted_counts = counts[order].tolist()
    top_sim = q.new_empty(r, k)
    top_idx = torch.empty(r, k, dtype=torch.int64, device=q.device)
    # One reused gather buffer: fresh allocations of this size would page-fault every 4 KiB,
    # which costs more than the gather itself; few blocks mean few parallel regions.
    buf = bank_n.new_empty(max(_GATHER_ELEMS // d, int(counts.max())), d)
    s = 0
    while s < r:
        # The block's width is its last (largest) count; grow it while it fits the buffer.
        n = 1
        while s + n < r and (n + 1) * sorted_counts[s + n] <= buf.shape[0]:
            n += 1
        c = sorted_counts[s + n - 1]
        rows = order[s : s + n]
        cand = a_idx[rows, :c]  # [n, c]: a_val is sorted, so each row's candidates come first
        gathered = torch.index_select(bank_n, 0, cand.reshape(-1), out=buf[: n * c]).view(n, c, d)
        sims = torch.bmm(gathered, q[rows, :, None]).squeeze(2)  # [n, c]
        v, j = sims.topk(k, dim=1)
        top_sim[rows], top_idx[rows] = v, cand.gather(1, j)
        s += n
    return top_sim, top_idx


def _count(stats: dict[str, int] | None, key: str, n: int) -> None:
    if stats is not None:
        stats[key] = stats.get(key, 0) + n
