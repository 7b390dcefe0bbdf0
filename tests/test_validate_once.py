"""A space is validated once per launch, and each distinct config is range-checked once per process."""

from __future__ import annotations

from pathlib import Path

import pytest

import launch
import search_spaces.loader
import ssl_core.config_checks
from ssl_core.config import load_config
from tests.tiny import tiny_space_text


def _counting(monkeypatch, module, name: str) -> list[int]:
    """Wrap ``module.name`` (the real function still runs) and count its calls."""
    calls: list[int] = []
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_a_dry_run_validates_the_space_once(tmp_path: Path, monkeypatch, birdsong_root, capsys) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text(tiny_space_text({"method.temperature": {"loguniform": [0.05, 1.0]}}, trials=2, epochs=2,
                                     concurrent=1, scheduler={"name": "asha", "grace_period": 1,
                                                              "reduction_factor": 2}))
    in_launch = _counting(monkeypatch, launch, "validate_space")
    in_loader = _counting(monkeypatch, search_spaces.loader, "validate_space")
    assert launch.main(["--space", str(space), "--storage", str(tmp_path / "runs"), "--epochs", "3",
                        "--override", "data.batch_size=16", "--dry-run"]) == 0
    assert "objective: max knn_top1" in capsys.readouterr().out
    assert (len(in_launch), len(in_loader)) == (1, 0)


def test_a_config_is_range_checked_once_per_content(monkeypatch) -> None:
    checks = _counting(monkeypatch, ssl_core.config_checks, "check_config")
    cfg = load_config(None, ["method.temperature=0.3137"])
    cfg.validate()
    load_config(None, ["method.temperature=0.3137"]).validate()  # another object, same content
    assert len(checks) == 1
    cfg.method.temperature = 0.4137  # changed content is checked again
    cfg.validate()
    assert len(checks) == 2
    cfg.method.temperature = -1.0
    with pytest.raises(ValueError, match="method.temperature=-1.0 is invalid"):
        cfg.validate()
