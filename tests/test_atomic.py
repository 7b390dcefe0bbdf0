"""The one atomic-write helper: old or new content, never a part, and nothing left behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ssl_core.atomic import atomic_directory, atomic_file, atomic_write_bytes, atomic_write_text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_file_is_replaced_whole_and_shared_readable(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "summary.md"
    atomic_write_text(target, "old\n")
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n" and _mode(target) == 0o644
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["b.bin", "deep", "summary.md"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "trials.csv"
    atomic_write_text(target, "kept")
    with pytest.raises(RuntimeError, match="half way"):
        with atomic_file(target) as handle:
            handle.write("partial")
            raise RuntimeError("half way")
    assert target.read_text() == "kept"
    assert [p.name for p in tmp_path.iterdir()] == ["trials.csv"]


def test_a_folder_is_swapped_in_and_the_old_one_removed(tmp_path: Path) -> None:
    target = tmp_path / "best_trial"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    with atomic_directory(target) as tmp:
        assert not target.joinpath("b").exists()
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"] and _mode(target) == 0o755
    assert [p.name for p in tmp_path.iterdir()] == ["best_trial"]


def test_a_failed_folder_build_keeps_the_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    with atomic_directory(target) as tmp:
        (tmp / "state.pt").write_text("epoch 1")
    with pytest.raises(OSError):
        with atomic_directory(target) as tmp:
            (tmp / "state.pt").write_text("epoch 2, half")
            raise OSError("disk full")
    assert (target / "state.pt").read_text() == "epoch 1"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]


def test_without_replace_the_first_finished_copy_wins(tmp_path: Path) -> None:
    target = tmp_path / "birdsong-v1"
    with atomic_directory(target, replace=False) as first:
        (first / "who").write_text("first")
        # Another process finishes the same (deterministic) generation meanwhile.
        with atomic_directory(target, replace=False) as second:
            (second / "who").write_text("second")
    assert (target / "who").read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["birdsong-v1"]
