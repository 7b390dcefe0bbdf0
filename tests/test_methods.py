"""Every registered method trains 2 epochs on birdsong with a finite, falling loss, reports the
metrics at each evaluation, and resumes from a mid-run checkpoint to the same next-step loss."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_core.methods import METHODS, Method, build_method, register_method
from ssl_core.trainer import train
from tests.tiny import tiny_config

EXPECTED = {"simclr", "supcon", "byol", "simsiam", "moco", "dino", "barlow", "vicreg", "supervised"}
# DINO on 300 recordings: 256 prototypes and the paper's teacher momentum, plus multi-crop.
EXTRA = {"dino": ("augment.num_local_crops=2", "method.dino_out_dim=256", "method.momentum_base=0.996")}
# "The loss falls" needs an objective two tiny epochs can lower. With the default band-median
# front end the recording's channel no longer makes two crops alike, and at 1 s crops with
# test_resnet the epoch-mean loss of barlow (19.98 -> 20.69), moco (4.189 -> 4.207) and vicreg
# did not fall over 2 x 20 steps; with standardisation alone every method's does. This test is
# about the trainer (a method's step, its metrics, exact resume); the front end has its own
# (test_frontends.py, test_shortcut_probe.py), and bench/method_table.py trains every method
# with the defaults.
FRONT_END = ("frontend.normalize=instance",)


def test_registry_lists_every_method() -> None:
    assert set(METHODS) == EXPECTED


def test_registry_refuses_duplicates_and_names_valid_methods() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_method("simclr")(type("Other", (Method,), {}))
    with pytest.raises(ValueError, match="unknown method 'simclrr'; valid methods: .*byol.*simclr"):
        build_method("simclrr", torch.nn.Identity(), 4, None, None, 2)


def _run(cfg, run_dir, resume_from=None):
    steps: dict[int, tuple[float, dict]] = {}
    reports: list[dict] = []
    final = train(cfg, report=lambda m, ckpt: reports.append(dict(m, checkpoint=ckpt)),
                  run_dir=run_dir, resume_from=resume_from,
                  step_callback=lambda step, loss, logs: steps.__setitem__(step, (loss, logs)))
    return final, steps, reports


def _epoch_means(values: list[float], steps_per_epoch: int) -> list[float]:
    return [sum(values[i:i + steps_per_epoch]) / steps_per_epoch for i in range(0, len(values), steps_per_epoch)]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_method_trains_two_epochs_and_resumes_exactly(name, tmp_path, birdsong_root) -> None:
    cfg = tiny_config(name, tmp_path / "a", epochs=2, steps=0, extra=FRONT_END + EXTRA.get(name, ()))
    final, steps, reports = _run(cfg, tmp_path / "a")
    losses = [steps[s][0] for s in sorted(steps)]
    per_epoch = len(losses) // 2
    assert per_epoch >= 10 and all(math.isfinite(v) for v in losses)
    if name == "dino":
        # DINO's cross-entropy is H(teacher) + KL(teacher || student). From a student equal to
        # its teacher, centring first spreads the teacher, so H and the loss rise for a while
        # (Caron et al. 2021); the KL term is what the student's gradient lowers.
        kl = [steps[s][1]["kl"] for s in sorted(steps)]
        first, second = _epoch_means(kl, per_epoch)
    elif name == "moco":
        # Until the queue holds real keys, its negatives are MoCo's random unit vectors: easy,
        # so those first steps' loss is not comparable. 64 keys, 2 x 16 enqueued per step.
        fill = math.ceil(cfg.method.queue_size / (2 * cfg.data.batch_size))
        first = sum(losses[fill:per_epoch]) / (per_epoch - fill)
        second = sum(losses[per_epoch:]) / per_epoch
    else:
        first, second = _epoch_means(losses, per_epoch)
    assert second < first, f"{name}: epoch-mean loss did not fall ({first:.4f} -> {second:.4f})"
    assert [int(r["epoch"]) for r in reports] == [1, 2]
    for key in ("knn_top1", "knn_top5", "emb_std", "eff_rank", "align", "uniform", "head_top1", "ari", "nmi",
                "silhouette", "davies_bouldin", "train_loss"):
        assert key in final and math.isfinite(final[key]), key
    assert "linear_top1" in final and "linear_top1" not in reports[0]  # eval.linear_probe=final
    # Resume from the checkpoint written after epoch 1: the next step's loss is the same.
    checkpoint = reports[0]["checkpoint"]
    assert checkpoint is not None and (checkpoint / "state.pt").is_file()
    _, resumed_steps, resumed_reports = _run(cfg, tmp_path / "b", resume_from=checkpoint)
    assert min(resumed_steps) == per_epoch, "a resumed run starts at the first step of epoch 2"
    assert resumed_steps[per_epoch][0] == pytest.approx(losses[per_epoch], rel=1e-5, abs=1e-6)
    assert [int(r["epoch"]) for r in resumed_reports] == [2]
    assert resumed_reports[0]["knn_top1"] == pytest.approx(reports[1]["knn_top1"], abs=1e-9)
