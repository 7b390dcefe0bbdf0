"""`python -m ssl_core.finetune`: label fractions, the backbone it starts from, the command on a
tiny real run folder (table, files, resumption, verdict rows) and the input it refuses."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ssl_core.config import load_config
from ssl_core.data import load_dataset, split_by_recording
from ssl_core.data.splits import keep_label_fraction
from ssl_core.finetune import main
from ssl_core.finetune_table import FINETUNE_DIR, RESULTS_DIR, TABLE_FILE, verdict_rows
from tests.tiny import tiny_config


def test_label_fraction_is_stratified_nested_seeded_and_keeps_val_and_test(birdsong_root) -> None:
    index = load_dataset(str(birdsong_root), format="birdclef")
    labels = index.labels()
    splits = split_by_recording(index, seed=0)
    per_class = np.bincount(labels[splits["train"]], minlength=index.num_classes)
    kept = {}
    for fraction in (0.01, 0.1, 0.5, 1.0):
        out = keep_label_fraction(index, splits, fraction, seed=0)
        assert all(np.array_equal(out[s], splits[s]) for s in ("val", "test"))
        counts = np.bincount(labels[out["train"]], minlength=index.num_classes)
        want = [n if fraction == 1 else max(1, round(fraction * n)) if n else 0 for n in per_class]
        assert counts.tolist() == want  # per class, at least one
        kept[fraction] = set(out["train"].tolist())
    assert kept[0.01] <= kept[0.1] <= kept[0.5] <= kept[1.0]  # more labels add to the fewer
    other = set(keep_label_fraction(index, splits, 0.5, seed=1)["train"].tolist())
    assert other != kept[0.5] and len(other) == len(kept[0.5])
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        keep_label_fraction(index, splits, 0.0)
    # Unlabelled recordings stay for SSL, leave for a method that trains on labels.
    items = tuple(dataclasses.replace(item, label=-1) if i % 7 == 0 else item for i, item in enumerate(index.items))
    partly = dataclasses.replace(index, items=items)
    unlabelled = {i for i in splits["train"].tolist() if i % 7 == 0}
    assert unlabelled <= set(keep_label_fraction(partly, splits, 0.5)["train"].tolist())
    assert not unlabelled & set(keep_label_fraction(partly, splits, 1.0, keep_unlabelled=False)["train"].tolist())


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_cache, birdsong_root) -> Path:
    """A real trainer run folder: tiny SimCLR, 1 epoch of 2 steps."""
    from ssl_core.trainer import train

    run_dir = tmp_path_factory.mktemp("ft") / "simclr"
    train(tiny_config("simclr", run_dir, epochs=1, steps=2), run_dir=run_dir)
    return run_dir


def test_init_backbone_starts_from_the_exported_weights_and_refuses_another_architecture(tiny_run, tmp_path) -> None:
    from ssl_core.data_pipeline import build_data
    from ssl_core.export import export_backbone
    from ssl_core.run import load_run
    from ssl_core.run_layout import best_checkpoint
    from ssl_core.trainer import build_model

    exported = export_backbone(load_run(best_checkpoint(tiny_run), device="cpu"), tmp_path / "b.pth")
    weights = torch.load(exported, weights_only=True)
    cfg = tiny_config("supervised", tmp_path / "sup", extra=(f"model.init_backbone={exported}",))
    data = build_data(cfg, 0, 1, torch.device("cpu"), announce=False)
    method = build_model(cfg, data, torch.device("cpu"))
    assert all(torch.equal(method.backbone.state_dict()[k], v) for k, v in weights.items())
    other = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone="resnet10t"))
    with pytest.raises(ValueError, match="holds a test_resnet backbone.*model.backbone=test_resnet"):
        build_model(other, data, torch.device("cpu"))


def test_the_command_on_a_tiny_run_folder_writes_the_table_resumes_and_feeds_the_verdict(tiny_run, capsys) -> None:
    args = [str(tiny_run), "--fractions", "0.1", "1", "--seeds", "0", "1", "--epochs", "1", "--device", "cpu"]
    assert main(args) == 0
    first = capsys.readouterr().out
    out_dir = tiny_run / FINETUNE_DIR
    results = sorted((out_dir / RESULTS_DIR).glob("*.json"))
    assert [p.name for p in results] == sorted(f"{init}_f{f}_s{s}_e1.json" for init in ("ssl", "scratch")
                                               for f in ("0.1", "1") for s in (0, 1))
    run = json.loads(results[0].read_text())
    from ssl_core.data_pipeline import load_and_split

    test_items = len(load_and_split(tiny_config("supervised", tiny_run / "unused"))[1]["test"])
    assert len(run["hits"]) == len(run["labels"]) == test_items
    assert run["top1"] == pytest.approx(100 * np.mean(run["hits"]))
    for name in ("label_efficiency.md", "label_efficiency.csv", "label_efficiency.png", TABLE_FILE):
        assert (out_dir / name).is_file()
    table = (out_dir / "label_efficiency.md").read_text()
    assert "| 10 % |" in table and "| 100 % |" in table and "fine-tuned top-1" in table
    assert first.count("trained in") == 8
    # Same steps at every fraction: 10 % trains more epochs over fewer items.
    plans = [line for line in first.splitlines() if "labelled train items" in line]
    assert len({line.split(", ")[-1] for line in plans}) == 1, plans
    # Rerun: nothing is trained again; a lost result is retrained alone.
    stamps = {p: p.stat().st_mtime_ns for p in results}
    assert main(args) == 0
    assert capsys.readouterr().out.count("done before") == 8
    assert {p: p.stat().st_mtime_ns for p in results} == stamps
    results[0].unlink()
    assert main(args) == 0
    again = capsys.readouterr().out
    assert again.count("trained in") == 1 and again.count("done before") == 7
    rows = verdict_rows(tiny_run)
    assert len(rows) == 2 and all("fine-tuned from the best config vs from scratch" in r for r in rows)
    assert "10 % of the train labels" in rows[0] and "2 seeds" in rows[0]


def test_bad_input_is_refused_with_the_fix_before_training(tmp_path, capsys, digits_root) -> None:
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert "neither an experiment folder" in capsys.readouterr().err
    search = tmp_path / "search"
    search.mkdir()
    (search / "space.yaml").write_text("description: x\n")
    assert main([str(search)]) == 2
    assert f"launch.py --summarise {search}" in capsys.readouterr().err
    for bad in ("0", "1.5", "-0.1", "ten"):
        with pytest.raises(SystemExit) as exit_info:
            main([str(search), "--fractions", bad])
        assert exit_info.value.code == 2
        assert "(0, 1]" in capsys.readouterr().err
    # Data without labels: an "experiment" whose config points at unlabelled images only.
    images = tmp_path / "unlabelled"
    (images / "_unlabelled").mkdir(parents=True)
    for png in sorted(digits_root.rglob("*.png"))[:40]:
        shutil.copy(png, images / "_unlabelled" / png.name)
    experiment = tmp_path / "experiment"
    experiment.mkdir()
    cfg = load_config(None, ["method.name=simclr", "data.dataset=digits", "model.backbone=test_resnet"]).to_dict()
    cfg["data"]["dataset"] = str(images)
    (experiment / "best_config.yaml").write_text(yaml.safe_dump(cfg))
    (experiment / "best_backbone.pth").write_bytes(b"never read: refused before")
    assert main([str(experiment), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "label" in err and not (experiment / FINETUNE_DIR / RESULTS_DIR).exists(), err


@pytest.mark.slow
def test_a_tiny_real_search_gets_fine_tune_rows_in_its_verdict_after_summarise(tmp_path, data_cache,
                                                                              birdsong_root) -> None:
    import os
    import subprocess
    import sys

    from tests.tiny import tiny_space_text

    repo = Path(__file__).resolve().parents[1]
    space = tmp_path / "tiny.yaml"
    space.write_text(tiny_space_text({"method.temperature": {"loguniform": [0.05, 1.0]}}, trials=2, epochs=1,
                                     concurrent=2, base={"eval": {"linear_probe": "never"}}))
    env = dict(os.environ, SSL_SEARCH_CACHE=str(data_cache))

    def launch(*args: str) -> str:
        proc = subprocess.run([sys.executable, "launch.py", *args], cwd=repo, env=env, text=True,
                              capture_output=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout

    launch("--space", str(space), "--storage", str(tmp_path / "runs"), "--name", "tiny")
    experiment = tmp_path / "runs" / "tiny"
    assert "fine-tuned from the best config" not in (experiment / "summary.md").read_text()
    assert main([str(experiment), "--fractions", "0.5", "1", "--seeds", "0", "--epochs", "1",
                 "--device", "cpu"]) == 0
    launch("--summarise", str(experiment))
    summary = (experiment / "summary.md").read_text()
    verdict = summary[summary.index("## Verdict"):summary.index("| contender |")]
    assert verdict.count("- fine-tuned from the best config vs from scratch") == 2, verdict
    assert len(json.loads((experiment / "verdict.json").read_text())["finetune"]) == 2
