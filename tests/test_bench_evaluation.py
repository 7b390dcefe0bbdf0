"""bench/evaluation.py at tiny sizes: it times the evaluation where the run takes it (held on
the device here) and loader-fed (``--compare``), and reports both shares of an epoch."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_evaluation", REPO / "bench" / "evaluation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluation_bench_reports_held_and_loader_fed_shares(birdsong_root, capsys) -> None:
    before = torch.get_num_threads()
    try:
        result = _bench().main(["--repeats", "1", "--compare", "--set", "model.backbone=test_resnet",
                                "data.batch_size=16", "data.crop_seconds=0.5", "train.max_steps_per_epoch=2",
                                "data.num_workers=1", "eval.shortcut_windows=0"])
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert "evaluation data: device (" in out and "evaluation batches: device" in out
    assert re.search(r"evaluation share of an epoch: [0-9.]+% \(device; target < 20 %\)", out)
    assert re.search(r"loader-fed evaluation share: [0-9.]+% \(run [0-9.]+ s -> [0-9.]+ s held on cpu\)", out)
    assert 0 < result["share"] < 1 and 0 < result["share_loader"] < 1
    assert result["run"] > 0 and result["run, loader-fed"] > 0
