"""Every registered method trains on birdsong with a finite, falling loss and resumes exactly."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_core.methods import METHODS, Method, build_method, register_method
from ssl_core.trainer import train
from tests.tiny import tiny_config

EXPECTED = {"simclr", "supcon", "byol", "simsiam", "moco", "dino", "barlow", "vicreg", "supervised"}


def test_registry_lists_every_method() -> None:
    assert set(METHODS) == EXPECTED


def test_registry_refuses_duplicates_and_names_valid_methods() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_method("simclr")(type("Other", (Method,), {}))
    with pytest.raises(ValueError, match="unknown method 'simclrr'; valid methods: .*byol.*simclr"):
        build_method("simclrr", torch.nn.Identity(), 4, None, None, 2)


def _run(cfg, run_dir, resume_from=None):
    losses: dict[int, float] = {}
    reports: list[dict] = []
    final = train(cfg, report=lambda m, ckpt: reports.append(dict(m, checkpoint=ckpt)),
                  run_dir=run_dir, resume_from=resume_from,
                  step_callback=lambda step, loss: losses.__setitem__(step, loss))
    return final, losses, reports


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_method_trains_two_epochs_and_resumes_exactly(name, tmp_path, birdsong_root) -> None:
    extra = ("augment.num_local_crops=2",) if name == "dino" else ()
    cfg = tiny_config(name, tmp_path / "a", epochs=2, steps=6, extra=extra)
    final, losses, reports = _run(cfg, tmp_path / "a")
    values = [losses[s] for s in sorted(losses)]
    assert len(values) == 12 and all(math.isfinite(v) for v in values)
    assert sum(values[-3:]) / 3 < sum(values[:3]) / 3, f"{name} loss did not fall: {values}"
    # An evaluation per epoch, each with the objective and the collapse metrics.
    assert [int(r["epoch"]) for r in reports] == [1, 2]
    for key in ("knn_top1", "knn_top5", "emb_std", "eff_rank", "align", "uniform", "head_top1", "ari"):
        assert key in final and math.isfinite(final[key]), key
    assert "linear_top1" in final and "linear_top1" not in reports[0]
    # Resume from the checkpoint written after epoch 1: the next step's loss is the same.
    checkpoint = reports[0]["checkpoint"]
    assert checkpoint is not None and (checkpoint / "state.pt").is_file()
    _, resumed_losses, resumed_reports = _run(cfg, tmp_path / "b", resume_from=checkpoint)
    assert min(resumed_losses) == 6, "resumed run must start at the first step of epoch 2"
    assert resumed_losses[6] == pytest.approx(losses[6], rel=1e-5, abs=1e-6)
    assert [int(r["epoch"]) for r in resumed_reports] == [2]
