"""A valid user search space and helpers to write and mutate it, shared by the space tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml


def valid_space() -> dict[str, Any]:
    return {
        "description": "a user's space",
        "base": {"method": {"name": "simclr"}},
        "params": {"method.temperature": {"loguniform": [0.05, 0.5]}, "data.batch_size": {"choice": [32, 64]}},
        "objective": {"metric": "knn_top1", "mode": "max"},
        "budget": {"trials": 4, "epochs": 3, "max_concurrent": 2},
        "scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2},
    }


def write(tmp_path: Path, raw: Any, name: str = "user_space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def set_key(raw: dict[str, Any], dotted: list[str], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    node = out
    for key in dotted[:-1]:
        node = node[key]
    node[dotted[-1]] = value
    return out
