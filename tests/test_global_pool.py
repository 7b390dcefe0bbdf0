"""`model.global_pool`: the backbone's pooling of its last feature map, checked against torch's
own reductions of timm's feature map; "auto" per modality; kept by the exported backbone and by
runs saved before the setting existed; refused when unknown."""

from __future__ import annotations

import pytest
import torch
import yaml

from ssl_core.config_errors import ConfigError
from ssl_core.models import create_backbone, timm_global_pool
from tests.tiny import tiny_config


@pytest.mark.parametrize("pool", ["", "avg", "max", "avgmax"])
def test_pooled_features_are_the_reduction_of_the_last_feature_map(pool: str) -> None:
    backbone = create_backbone("resnet10t", in_chans=1, global_pool=pool).eval()
    x = torch.randn(3, 1, 64, 101, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feature_map = backbone.forward_features(x)  # [3, 512, H', W']
        pooled = backbone(x)
    mean, peak = feature_map.mean(dim=(2, 3)), feature_map.amax(dim=(2, 3))
    expected = {"": mean, "avg": mean, "max": peak, "avgmax": 0.5 * (mean + peak)}[pool]
    assert pooled.shape == (3, backbone.num_features)
    torch.testing.assert_close(pooled, expected, rtol=1e-5, atol=1e-6)


def test_auto_pools_audio_by_avgmax_and_leaves_images_and_vits_their_own() -> None:
    assert timm_global_pool("auto", "audio") == "avgmax"
    assert timm_global_pool("auto", "image") == "" and timm_global_pool("timm", "audio") == ""
    assert timm_global_pool("max", "image") == "max"
    assert create_backbone("test_vit", in_chans=3, global_pool=timm_global_pool("auto", "image")).global_pool == "token"
    assert create_backbone("test_vit", in_chans=1, global_pool="avg").global_pool == "avg"


def test_a_pooling_that_changes_the_feature_width_is_refused_with_the_choices(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"model\.global_pool.*catavgmax.*auto.*avgmax"):
        tiny_config("simclr", tmp_path, extra=("model.global_pool=catavgmax",)).validate()


def test_a_run_pools_as_set_and_its_export_loads_in_timm_with_the_same_pooling(tmp_path, data_cache) -> None:
    import timm

    from ssl_core.export import export_backbone
    from ssl_core.run import load_run
    from ssl_core.run_layout import best_checkpoint
    from ssl_core.trainer import train

    run_dir = tmp_path / "simclr"
    train(tiny_config("simclr", run_dir, epochs=1, steps=2, extra=("model.global_pool=max",)), run_dir=run_dir)
    run = load_run(best_checkpoint(run_dir), device="cpu")
    assert run.method.backbone.global_pool.pool_type == "max"
    exported = export_backbone(run, tmp_path / "backbone.pth")
    info = yaml.safe_load(exported.with_suffix(".yaml").read_text())
    assert info["global_pool"] == "max" and "global_pool='max'" in info["load_with"]
    model = timm.create_model(info["timm_model"], pretrained=False, num_classes=0, in_chans=info["in_chans"],
                              global_pool=info["global_pool"], checkpoint_path=str(exported)).eval()
    x = torch.randn(2, 1, 64, 101, generator=torch.Generator().manual_seed(2))
    run.method.backbone.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), run.method.backbone(x.contiguous(memory_format=torch.channels_last)),
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model(x), model.forward_features(x).amax(dim=(2, 3)), rtol=0, atol=0)


def test_a_run_saved_before_the_setting_existed_is_rebuilt_with_the_model_s_own_pooling(tmp_path, data_cache) -> None:
    from ssl_core.run import load_run
    from ssl_core.run_layout import best_checkpoint
    from ssl_core.trainer import train

    run_dir = tmp_path / "simclr"
    train(tiny_config("simclr", run_dir, epochs=1, steps=1, extra=("model.global_pool=timm",)), run_dir=run_dir)
    config_file = best_checkpoint(run_dir) / "config.yaml"
    raw = yaml.safe_load(config_file.read_text())
    del raw["model"]["global_pool"]  # what the trainer wrote before model.global_pool existed
    config_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    run = load_run(best_checkpoint(run_dir), device="cpu")
    assert run.cfg.model.global_pool == "timm" and run.method.backbone.global_pool.pool_type == "avg"
    assert run.metrics  # the checkpoint's weights and evaluation load as before
