"""Clips much shorter than the crop are tiled to fill it; the user is told once, before Ray (issue 18).

A dataset with 0.01 s clips among 3 s recordings: ``launch.py --dry-run`` prints one note (how
many are shorter than the crop, the shortest, the fix) before its plan, with no Ray session;
a dataset without short clips prints none; a report rebuilt with ``notes=False`` stays silent.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from ssl_core.config import load_config
from ssl_core.data_pipeline import load_and_split, short_clips_note
from tests.test_bad_input import _data_args, _launch

RATE = 16000


def _folder(root: Path, short: int) -> Path:
    """Two classes of 5 recordings: 3 s of noise each, the first ``short`` of class a only 0.01 s."""
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        for i in range(5):
            seconds = 0.01 if cls == "a" and i < short else 3.0
            (root / cls).mkdir(parents=True, exist_ok=True)
            soundfile.write(root / cls / f"{i}.wav", 0.1 * rng.standard_normal(int(seconds * RATE)), RATE)
    return root


def test_dry_run_notes_the_short_clips_before_its_plan(tmp_path, monkeypatch, capsys) -> None:
    root = _folder(tmp_path / "clips", short=2)
    rc, out, err, _ = _launch([*_data_args(root, tmp_path), "--dry-run"], tmp_path, monkeypatch, capsys)
    assert rc == 0, err
    notes = [line for line in out.splitlines() if "shorter than the" in line]
    assert len(notes) == 1, out  # once per launch
    note = notes[0]
    assert "2 of 10 recordings" in note and "than the 1 s crop (data.crop_seconds)" in note  # the tiny space's crop
    assert "the shortest 0.01 s" in note and "repeats such a recording end to end" in note
    assert "drop those recordings" in note and "lower data.crop_seconds" in note
    assert out.index(note) < out.index("experiment:")  # before the plan (and Ray)


def test_no_note_without_short_clips_or_when_asked_for_none(tmp_path, capsys) -> None:
    root = _folder(tmp_path / "clips", short=0)
    overrides = [f"data.dataset={root}", f"data.decode_cache={tmp_path / 'decoded'}", "data.batch_size=2"]
    load_and_split(load_config(None, overrides))
    assert "shorter than the" not in capsys.readouterr().out
    short_root = _folder(tmp_path / "short", short=1)
    cfg = load_config(None, [*overrides[1:], f"data.dataset={short_root}", "data.crop_seconds=1"])
    index, _ = load_and_split(cfg, notes=False)
    assert capsys.readouterr().out == ""
    note = short_clips_note(cfg, index)
    assert note is not None and "1 of 10 recordings" in note and "1 s crop" in note
    # A crop no longer than the shortest clip: nothing is repeated, nothing to say.
    long_root = _folder(tmp_path / "long", short=0)
    long_index, _ = load_and_split(load_config(None, [*overrides[1:], f"data.dataset={long_root}"]), notes=False)
    assert short_clips_note(load_config(None, [*overrides[1:], f"data.dataset={long_root}",
                                                "data.crop_seconds=3"]), long_index) is None
