"""Report figures, the Optuna study rebuilt from trials.csv, and the best trial's TensorBoard report.

References: numpy's SVD (PCA), scikit-learn's silhouette, PIL (PNG decoding), TensorBoard's own
EventAccumulator and projector protobuf, and Optuna's own importance evaluator.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from matplotlib.collections import PathCollection
from PIL import Image

from search_spaces import Distribution, SearchSpace
from trainables.study_report import history_figure, importance_figure, parse_param, study_from_trials, to_optuna
from ssl_core.eval.figures import DPI, EMBEDDING_INCHES, LONGTAIL_INCHES, embedding_figure, longtail_figure, save_figure
from ssl_core.eval.tensorboard_report import (EMBEDDING_TAG, GAP, MIN_PANEL_HEIGHT, VIEWS_TAG,
                                              write_best_trial_report)
from tests.tiny import tiny_config

CLASSES = ["wren", "robin", "song thrush"]


def blobs(per_class: int = 20, dim: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three tight Gaussian blobs around orthogonal directions: [3 * per_class, dim], labels [3 * per_class]."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.eye(dim)[:3] * 5.0
    labels = torch.arange(3).repeat_interleave(per_class)
    features = centres[labels] + 0.3 * torch.randn(len(labels), dim, generator=g)
    return features, labels


def scatters(fig) -> list[PathCollection]:
    return [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]


# ---------------------------------------------------------------- embedding / long-tail figures


@pytest.mark.parametrize("method", ["tsne", "pca"])
def test_embedding_figure_one_colour_per_class_and_png_size(method: str, tmp_path: Path) -> None:
    features, labels = blobs()
    fig = embedding_figure(features, labels, CLASSES, method=method, seed=0, title="blobs")
    collections = scatters(fig)
    assert len(collections) == 3
    assert [len(c.get_offsets()) for c in collections] == [20, 20, 20]
    colours = {tuple(np.round(c.get_facecolor()[0], 6)) for c in collections}
    assert len(colours) == 3
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == CLASSES
    # Points drawn per class: the three blobs stay apart in 2-D (silhouette from scikit-learn).
    from sklearn.metrics import silhouette_score

    points = np.concatenate([np.asarray(c.get_offsets()) for c in collections])
    drawn_labels = np.repeat(np.arange(3), 20)
    assert silhouette_score(points, drawn_labels) > 0.5
    if method == "pca":
        # Independent PCA: centre the L2-normalised features, project on the top-2 right singular vectors.
        x = (features / features.norm(dim=1, keepdim=True)).double().numpy()
        x = x - x.mean(axis=0)
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        reference = x @ vt[:2].T
        signs = np.sign(np.sum(reference * points, axis=0))  # components are defined up to sign
        np.testing.assert_allclose(points, reference * signs, atol=1e-6)

    png = save_figure(fig, tmp_path / "figs" / f"embedding_{method}.png")
    assert png.is_file() and not list(png.parent.glob(".*"))  # no temporary file left behind
    with Image.open(png) as image:
        image.load()
        assert image.format == "PNG"
        assert image.size == (round(EMBEDDING_INCHES[0] * DPI), round(EMBEDDING_INCHES[1] * DPI))


def test_embedding_figure_unlabelled_grey_and_no_legend_beyond_20_classes() -> None:
    features = torch.randn(50, 6, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(50) % 25
    labels[:3] = -1
    fig = embedding_figure(features, labels, [f"c{i}" for i in range(25)], method="pca")
    assert len(scatters(fig)) == 25 + 1  # 25 classes + unlabelled
    assert not fig.legends


def test_embedding_figure_rejects_bad_input() -> None:
    features, labels = blobs()
    with pytest.raises(ValueError, match="tsne, pca"):
        embedding_figure(features, labels, CLASSES, method="umap")
    with pytest.raises(ValueError, match=r"labels must be in \[-1, 1\]"):
        embedding_figure(features, labels, CLASSES[:2], method="pca")
    with pytest.raises(ValueError, match="labels must be"):
        embedding_figure(features, labels[:5], CLASSES, method="pca")


def test_longtail_bars_equal_metrics(tmp_path: Path) -> None:
    metrics = {"head_top1": 52.27, "medium_top1": 5.556, "tail_top1": 14.29, "knn_top1": 36.23}
    fig = longtail_figure(metrics, title="best trial")
    ax = fig.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == pytest.approx([metrics["head_top1"], metrics["medium_top1"], metrics["tail_top1"]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["head", "medium", "tail"]
    (line,) = ax.get_lines()
    assert set(line.get_ydata()) == {metrics["knn_top1"]}
    png = save_figure(fig, tmp_path / "longtail.png")
    with Image.open(png) as image:
        assert image.size == (round(LONGTAIL_INCHES[0] * DPI), round(LONGTAIL_INCHES[1] * DPI))
    with pytest.raises(ValueError, match="missing tail_top1"):
        longtail_figure({"head_top1": 1.0, "medium_top1": 2.0})


# ---------------------------------------------------------------- Optuna study from trials.csv


def space(params: dict[str, Distribution], mode: str = "max") -> SearchSpace:
    return SearchSpace(name="handmade", description="test", base={}, params=params, metric="knn_top1", mode=mode,
                       trials=6, epochs=4, max_concurrent=1, scheduler={"name": "asha", "grace_period": 1,
                                                                         "reduction_factor": 2},
                       path=Path("handmade.yaml"))


PARAMS = {"method.temperature": Distribution("loguniform", 0.03, 1.0),
          "data.batch_size": Distribution("choice", choices=(32, 64)),
          "augment.noise_p": Distribution("quniform", 0.0, 1.0, 0.1)}
# As results.write_trials_csv writes it: sorted by score, Ray's sequence number inside the name.
ROWS = [
    ("run_trial_0a1b2c3d_3_method_temperature=0.1_2026-01-01_00-00-03", "0.1", "64", "0.30000000000000004",
     "40.5", "4", "completed"),
    ("run_trial_1a1b2c3d_1_method_temperature=0.5_2026-01-01_00-00-01", "0.5", "32", "0.2", "31.0", "4",
     "completed"),
    ("run_trial_2a1b2c3d_2_method_temperature=0.05_2026-01-01_00-00-02", "0.05", "32", "0.9", "28.0", "2",
     "pruned"),
    ("run_trial_3a1b2c3d_5_method_temperature=0.9_2026-01-01_00-00-05", "0.9", "64", "0.5", "22.0", "4",
     "completed"),
    ("run_trial_4a1b2c3d_4_method_temperature=0.03_2026-01-01_00-00-04", "0.03", "64", "0.0", "5.0", "1",
     "collapsed: emb_std 1e-05 < 0.0001 at epoch 1"),
    ("run_trial_5a1b2c3d_6_method_temperature=0.2_2026-01-01_00-00-06", "0.2", "32", "0.1", "nan", "0",
     "failed: RuntimeError: CUDA out of memory"),
    ("run_trial_6a1b2c3d_7_method_temperature=0.4_2026-01-01_00-00-07", "0.4", "64", "0.6", "25.0", "3",
     "interrupted at epoch 3"),
]


def write_csv(path: Path, rows=ROWS) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["trial", *PARAMS, "best_knn_top1", "knn_top1", "emb_std", "epochs", "seconds", "status"])
        for name, t, b, p, best, epochs, status in rows:
            writer.writerow([name, t, b, p, best, best, "0.02", epochs, "10.0", status])
    return path


def test_study_from_trials_states_values_and_order(tmp_path: Path) -> None:
    study = study_from_trials(write_csv(tmp_path / "trials.csv"), space(PARAMS))
    states = [t.state for t in study.trials]
    S = optuna.trial.TrialState
    assert states.count(S.COMPLETE) == 3 and states.count(S.PRUNED) == 3 and states.count(S.FAIL) == 1
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    # Trials come in Ray's start order (sequence numbers 1..7), not the CSV's score order.
    sequence = [int(t.user_attrs["name"].split("_")[3]) for t in study.trials]
    assert sequence == [1, 2, 3, 4, 5, 6, 7]
    by_name = {t.user_attrs["name"]: t for t in study.trials}
    for name, temperature, batch, noise, best, epochs, status in ROWS:
        trial = by_name[name]
        assert trial.user_attrs["status"] == status
        assert trial.params["method.temperature"] == pytest.approx(float(temperature))
        assert trial.params["data.batch_size"] == int(batch) and isinstance(trial.params["data.batch_size"], int)
        assert trial.params["augment.noise_p"] == pytest.approx(float(noise))
        if status == "completed":
            assert trial.value == pytest.approx(float(best))
        elif status.startswith(("pruned", "collapsed", "interrupted")):
            assert trial.value is None and trial.intermediate_values == {int(epochs): float(best)}
    assert study.best_value == pytest.approx(40.5)
    # A min-mode space flips the direction and so the best trial.
    assert study_from_trials(tmp_path / "trials.csv", space(PARAMS, mode="min")).best_value == pytest.approx(22.0)


def test_study_from_trials_rejects_foreign_table(tmp_path: Path) -> None:
    other = {"method.momentum": Distribution("uniform", 0.9, 0.999)}
    with pytest.raises(ValueError, match="method.momentum"):
        study_from_trials(write_csv(tmp_path / "trials.csv"), space(other))
    odd = [ROWS[0][:-1] + ("running",)]
    with pytest.raises(ValueError, match="'running'; expected completed"):
        study_from_trials(write_csv(tmp_path / "odd.csv", odd), space(PARAMS))


@pytest.mark.parametrize("dist", [
    Distribution("uniform", 0.0, 0.5), Distribution("loguniform", 0.03, 1.0),
    Distribution("quniform", 0.0, 1.0, 0.1), Distribution("quniform", 8, 64, 8),
    Distribution("qloguniform", 8, 512, 8), Distribution("qloguniform", 0.1, 10.0, 0.1),
    Distribution("int", 0, 4), Distribution("log_int", 32, 512),
    Distribution("choice", choices=(32, 64, 128)), Distribution("choice", choices=("simclr", None, True, 0.5)),
], ids=lambda d: d.describe())
def test_every_kind_round_trips_through_csv_into_optuna(dist: Distribution) -> None:
    optuna_dist = to_optuna(dist)
    rng = np.random.default_rng(0)
    for _ in range(30):
        value = dist.sample(rng)
        cell = "" if value is None else str(value)  # csv.writer writes None as an empty cell
        parsed = parse_param(cell, dist, "key")
        assert parsed == value or parsed == pytest.approx(value)
        assert optuna_dist._contains(optuna_dist.to_internal_repr(parsed))


def test_importance_and_history_figures(tmp_path: Path) -> None:
    study = study_from_trials(write_csv(tmp_path / "trials.csv"), space(PARAMS))
    fig = importance_figure(study)
    assert fig is not None
    bars = fig.axes[0].patches
    names = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(names) == sorted(PARAMS)
    reference = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    assert {n: b.get_width() for n, b in zip(names, bars)} == pytest.approx(dict(reference))
    assert sum(b.get_width() for b in bars) == pytest.approx(1.0)

    history = history_figure(study, "knn_top1")
    ax = history.axes[0]
    complete, pruned = scatters(history)
    # Complete trials at their numbers (order 1, 3, 5 -> numbers 0, 2, 4) and values.
    np.testing.assert_allclose(np.asarray(complete.get_offsets()), [[0, 31.0], [2, 40.5], [4, 22.0]])
    np.testing.assert_allclose(np.asarray(pruned.get_offsets()), [[1, 28.0], [3, 5.0], [6, 25.0]])
    (best_line,) = ax.get_lines()
    running_max = np.maximum.accumulate([31.0, 40.5, 22.0])
    np.testing.assert_allclose(best_line.get_ydata(), running_max)
    assert "3 complete, 3 pruned, 1 failed" in ax.get_title()
    for name, figure in (("importance", fig), ("history", history)):
        with Image.open(save_figure(figure, tmp_path / f"{name}.png")) as image:
            w, h = figure.get_size_inches() * DPI
            assert image.size == (round(w), round(h))


def test_importance_undefined_cases_and_single_parameter(tmp_path: Path) -> None:
    one = {"method.temperature": PARAMS["method.temperature"]}

    def table(rows: list[tuple[str, str, str]]) -> Path:
        path = tmp_path / f"t{len(list(tmp_path.iterdir()))}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["trial", "method.temperature", "best_knn_top1", "status"])
            writer.writerows(rows)
        return path

    single = table([("a_0000000a_1_x", "0.1", "30", "completed"), ("a_0000000b_2_x", "0.2", "35", "pruned")])
    assert importance_figure(study_from_trials(single, space(one))) is None  # one complete trial
    constant = table([("a_0000000a_1_x", "0.1", "30", "completed"), ("a_0000000b_2_x", "0.1", "35", "completed")])
    assert importance_figure(study_from_trials(constant, space(one))) is None  # the only param never varies
    varied = table([("a_0000000a_1_x", "0.1", "30", "completed"), ("a_0000000b_2_x", "0.3", "35", "completed"),
                    ("a_0000000c_3_x", "0.9", "20", "completed")])
    fig = importance_figure(study_from_trials(varied, space(one)))
    assert fig is not None and [b.get_width() for b in fig.axes[0].patches] == pytest.approx([1.0])


# ---------------------------------------------------------------- TensorBoard report


def test_write_best_trial_report_events_and_projector(tmp_path: Path) -> None:
    from google.protobuf import text_format
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    features, labels = blobs(per_class=4, dim=5)
    names = ["wren", "robin", "song\tthrush"]  # a tab would split the TSV row
    g = torch.Generator().manual_seed(3)
    pairs = torch.randn(3, 2, 1, 16, 20, generator=g) * 20 - 40  # log-mel dB-like range
    figures = {"embedding": embedding_figure(features, labels, names, method="pca"),
               "longtail": longtail_figure({"head_top1": 50.0, "medium_top1": 30.0, "tail_top1": 10.0})}
    log_dir = tmp_path / "exp" / "best_trial"
    for _ in range(2):  # writing twice replaces the first report
        assert write_best_trial_report(log_dir, features, labels, names, pairs, figures) == log_dir
    assert len(list(log_dir.glob("events.out.tfevents.*"))) == 1
    assert len(list(log_dir.rglob("tensors.tsv"))) == 1

    acc = EventAccumulator(str(log_dir), size_guidance={"images": 0})
    acc.Reload()
    assert set(acc.Tags()["images"]) == {VIEWS_TAG, "best_trial/embedding", "best_trial/longtail"}
    (event,) = acc.Images(VIEWS_TAG)
    factor = math.ceil(MIN_PANEL_HEIGHT / 16)
    h, w = 16 * factor, 20 * factor
    assert (event.width, event.height) == (2 * w + GAP, 3 * h + 2 * GAP)
    grid = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("L"), dtype=float)
    for p in range(3):
        for v in range(2):
            view = pairs[p, v, 0].numpy()
            expected = np.kron((view - view.min()) / (view.max() - view.min()), np.ones((factor, factor))) * 255
            top, left = p * (h + GAP), v * (w + GAP)
            np.testing.assert_allclose(grid[top:top + h, left:left + w], expected, atol=1.0)
    (shot,) = acc.Images("best_trial/embedding")
    assert (shot.width, shot.height) == (round(EMBEDDING_INCHES[0] * DPI), round(EMBEDDING_INCHES[1] * DPI))

    config = text_format.Parse((log_dir / "projector_config.pbtxt").read_text(), ProjectorConfig())
    (embedding,) = config.embeddings
    assert embedding.tensor_name.split(":")[0] == EMBEDDING_TAG  # torch appends ":<step>"
    tensors = np.loadtxt(log_dir / embedding.tensor_path, delimiter="\t", ndmin=2)
    assert tensors.shape == (12, 5)
    np.testing.assert_allclose(tensors, features.numpy(), rtol=1e-6)
    metadata = (log_dir / embedding.metadata_path).read_text().splitlines()
    assert metadata == [["wren", "robin", "song thrush"][i] for i in labels.tolist()]


def test_write_best_trial_report_rejects_bad_shapes(tmp_path: Path) -> None:
    features, labels = blobs(per_class=2, dim=4)
    with pytest.raises(ValueError, match=r"\[P, 2, C, H, W\]"):
        write_best_trial_report(tmp_path, features, labels, CLASSES, torch.zeros(3, 1, 16, 16), {})
    with pytest.raises(ValueError, match="labels must be"):
        write_best_trial_report(tmp_path, features, labels[:-1], CLASSES, None, {})


# ---------------------------------------------------------------- a real checkpoint, end to end


def test_loaded_run_embeds_its_test_split_with_the_checkpointed_model(tmp_path: Path, digits_root: Path) -> None:
    from ssl_core.checkpoint import write_checkpoint
    from ssl_core.data import ImageDataset
    from ssl_core.data_pipeline import build_data
    from ssl_core.run import load_run
    from ssl_core.run_report import embed_split, view_pairs
    from ssl_core.trainer import build_model

    cfg = tiny_config("simclr", tmp_path / "run", dataset="digits", epochs=1, steps=1)
    data = build_data(cfg, 0, 1, torch.device("cpu"))
    model = build_model(cfg, data, torch.device("cpu"))
    # Weights no fresh model has, so features equal to the reference prove the checkpoint was loaded.
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=g))
    checkpoint = write_checkpoint(tmp_path / "run" / "checkpoints" / "best", {"model": model.state_dict(), "epoch": 1},
                                  cfg.to_dict())
    run = load_run(checkpoint, device="cpu")
    features, labels, class_names = embed_split(run, "test")
    pairs = view_pairs(run, labels, "test", max_pairs=4)

    # Reference: the perturbed model applied to the test split's clean inputs, read item by item.
    model.eval()
    test_ids = data.splits["test"]
    images = torch.stack([ImageDataset([data.index.items[i]], cache_decoded=False)[0][0] for i in test_ids])
    with torch.no_grad():
        reference = model.embed(data.view_maker.embed_input(images))
        fresh = build_model(cfg, data, torch.device("cpu")).eval().embed(data.view_maker.embed_input(images))
    assert not torch.allclose(fresh, reference, atol=1e-3)
    assert features.shape == reference.shape
    torch.testing.assert_close(features, reference, rtol=1e-4, atol=1e-5)
    assert labels.tolist() == data.index.labels()[test_ids].tolist()
    assert class_names == list(data.index.class_names)
    size = cfg.data.image_size
    assert pairs is not None and pairs.shape == (4, 2, data.in_chans, size, size)
    assert 0.0 <= pairs.min() and pairs.max() <= 1.0
    assert not torch.equal(pairs[:, 0], pairs[:, 1])  # two different augmentations

    # What results.py does with them: figures, the TensorBoard report, PNGs.
    figures = {"test_embeddings_tsne": embedding_figure(features, labels, class_names, title="best trial"),
               "longtail": longtail_figure({"head_top1": 90.0, "medium_top1": 80.0, "tail_top1": 70.0})}
    log_dir = write_best_trial_report(tmp_path / "exp" / "best_trial", features, labels, class_names, pairs, figures)
    for name, fig in figures.items():
        assert save_figure(fig, tmp_path / "exp" / "figures" / f"{name}.png").is_file()
    metadata = next(log_dir.rglob("metadata.tsv")).read_text().splitlines()
    assert metadata == [class_names[i] for i in labels.tolist()]
