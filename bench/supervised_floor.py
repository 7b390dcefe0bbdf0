"""Where does the pipeline lose what fixed features keep? Classifiers on features with no training.

Issue: on the embedded birdsong, logistic regression on per-band log-mel mean and std of each
*whole* recording beats every trained network, the supervised one included. A network sees only
what the pipeline hands it, so this bench scores the same statistics computed from what the
pipeline hands the network, step by step, with the same two classifiers (scikit-learn's logistic
regression and the evaluation's kNN), on val and test with 95 % bootstrap intervals:

* ``whole recording``: the verdict's fixed features (log-mel of the whole recording);
* ``centre window``: the same statistics of the centre ``data.crop_seconds`` window only, the
  window evaluation embeds by default;
* ``mean of windows``: the statistics averaged over up to 8 windows spread over the recording;
* ``centre window, normalised``: of the front end's output for the centre window (after its
  ``frontend.normalize``), exactly what the network is given.

A drop from one row to the next is information the next stage of the pipeline removed.

    python bench/supervised_floor.py runs/<experiment>/<trial>/ssl/checkpoints/best
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WINDOWS = 8


def _stats(logmel: torch.Tensor) -> torch.Tensor:
    """``[M, F]`` -> ``[2 M]``: per-band mean and standard deviation over frames."""
    return torch.cat([logmel.mean(dim=-1), logmel.std(dim=-1, unbiased=False)])


@torch.no_grad()
def features(run, item_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Each variant's ``[N, 2 M]`` statistics of the items ``item_ids``."""
    from ssl_core.data.audio_dataset import WaveSource
    from ssl_core.data_pipeline import decode_cache_for

    cfg, frontend = run.cfg, run.data.view_maker.frontend
    source = WaveSource([run.data.index.items[i] for i in item_ids], cfg.data.sample_rate, decode_cache_for(cfg),
                        keep_decoded=False)
    crop = int(round(cfg.data.crop_seconds * cfg.data.sample_rate))
    rows: dict[str, list[torch.Tensor]] = {"whole recording": [], "centre window": [], "mean of windows": [],
                                           "centre window, normalised": []}
    for position in range(len(item_ids)):
        wave = torch.as_tensor(np.asarray(source.wave(position), dtype=np.float32))
        if wave.numel() < crop:  # as the loader does: repeat a short clip to fill the crop
            wave = wave.repeat(crop // max(1, wave.numel()) + 1)
        logmel = lambda w: frontend.log_compress(frontend.mel_power(w[None]))[0]  # noqa: E731
        rows["whole recording"].append(_stats(logmel(wave)))
        start = (wave.numel() - crop) // 2
        centre = wave[start:start + crop]
        rows["centre window"].append(_stats(logmel(centre)))
        starts = np.linspace(0, wave.numel() - crop, WINDOWS).astype(int)
        rows["mean of windows"].append(torch.stack([_stats(logmel(wave[s:s + crop])) for s in starts]).mean(dim=0))
        rows["centre window, normalised"].append(_stats(frontend(centre[None])[0, 0]))
    return {name: torch.stack(values).numpy() for name, values in rows.items()}


def score(train: np.ndarray, y_train: np.ndarray, other: np.ndarray, y_other: np.ndarray, cfg, num_classes: int
          ) -> dict[str, tuple[float, float, float]]:
    """Logistic regression and kNN accuracy (percent, with the 95 % interval) on ``other``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from ssl_core.eval.evaluate import SplitEmbeddings, knn_hits, labels_tensor
    from ssl_core.eval.uncertainty import accuracy_interval

    scaler = StandardScaler().fit(train)
    a, b = scaler.transform(train), scaler.transform(other)
    model = LogisticRegression(max_iter=5000).fit(a, y_train)
    lr_hits = (model.predict(b) == y_other).astype(np.float64)
    bank = SplitEmbeddings(torch.as_tensor(a, dtype=torch.float32), labels_tensor(y_train))
    queries = SplitEmbeddings(torch.as_tensor(b, dtype=torch.float32), labels_tensor(y_other))
    knn, _ = knn_hits(bank, queries, num_classes, k=cfg.eval.knn_k, temperature=cfg.eval.knn_temperature)
    return {name: (100 * hits.mean(), *accuracy_interval(hits)) for name, hits in
            (("logistic regression", lr_hits), ("kNN", knn))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="any trainer checkpoint of the data set (its config is used)")
    args = parser.parse_args()
    from ssl_core.run import load_run

    run = load_run(args.checkpoint, device="cpu", trained=False)
    labels = run.data.index.labels()
    splits = {name: run.data.splits[name] for name in ("bank", "val", "test")}
    feats = {name: features(run, ids) for name, ids in splits.items()}
    print(f"{run.cfg.data.dataset}: {', '.join(f'{k} {len(v)}' for k, v in splits.items())} recordings; "
          f"crop {run.cfg.data.crop_seconds} s, normalize={run.cfg.frontend.normalize}")
    print(f"{'features':28s} {'classifier':20s} {'val':>22s} {'test':>22s}")
    for variant in feats["bank"]:
        results = {split: score(feats["bank"][variant], labels[splits["bank"]], feats[split][variant],
                                labels[splits[split]], run.cfg, run.data.num_classes) for split in ("val", "test")}
        for classifier in ("logistic regression", "kNN"):
            cells = [f"{v:5.1f} [{lo:4.1f}, {hi:4.1f}]" for v, lo, hi in
                     (results["val"][classifier], results["test"][classifier])]
            print(f"{variant:28s} {classifier:20s} {cells[0]:>22s} {cells[1]:>22s}")


if __name__ == "__main__":
    main()
