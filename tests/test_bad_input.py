"""Every bad input a user can give launch.py is refused before any expensive work.

Each case runs ``launch.main(argv)`` in this process, without ``--dry-run`` (a launch that
got through would start Ray and search), and checks: exit status 2; a message that names
the problem and the fix; no Ray session (Ray's temp dir is pointed by RAY_TMPDIR at a fresh
folder, where ``ray.init`` would create ``ray/session_*``); no raylet / GCS child process;
nothing created under ``--storage``. Datasets are real encoded audio files in tmp folders.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable

import psutil
import pytest
import torch

import launch
from tests.loopback import free_loopback_port
from tests.format_files import write_audio, write_csv, write_image
from tests.tiny import tiny_space_text

# A tiny search of the learning rate, so that method.temperature is a base value an override may set.
LR = {"optim.lr": {"loguniform": [0.001, 0.01]}}
ASHA = {"name": "asha", "grace_period": 1, "reduction_factor": 2}
LR_SPACE = tiny_space_text(LR, trials=2, epochs=2, concurrent=1, scheduler=ASHA, base={"method": {"temperature": 0.1}},
                           searched=("optim.lr",), description="tiny learning-rate search with a fixed temperature")


def _audio_classes(root: Path, recordings: dict[str, int], ext: str = ".wav") -> Path:
    """``root/<class>/<n><ext>``: ``recordings[class]`` real audio files per class."""
    for k, (cls, n) in enumerate(recordings.items()):
        for i in range(n):
            write_audio(root / cls / f"{i}{ext}", seed=10 * k + i)
    return root


def _space(tmp: Path, text: str = LR_SPACE) -> str:
    path = tmp / "lr_space.yaml"
    path.write_text(text)
    return str(path)


def _data_args(root: Path, tmp: Path, batch: int = 2) -> list[str]:
    # The decode cache in tmp: the shared test cache stays untouched.
    return ["--space", _space(tmp), "--data", str(root), "--override", f"data.batch_size={batch}",
            "--override", f"data.decode_cache={tmp / 'decoded'}"]


def _only_text(tmp: Path) -> list[str]:
    for cls in ("a", "b"):
        (tmp / "texts" / cls).mkdir(parents=True)
        (tmp / "texts" / cls / "notes.txt").write_text("not a recording")
    return _data_args(tmp / "texts", tmp)


def _only_broken_audio(tmp: Path) -> list[str]:
    for cls in ("a", "b"):
        for i in range(3):
            path = tmp / "broken" / cls / f"{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" if i else b"")
    return _data_args(tmp / "broken", tmp)


def _manifest_without_columns(tmp: Path) -> list[str]:
    write_audio(tmp / "man" / "x.wav")
    write_csv(tmp / "man" / "manifest.csv", ["file", "species"], [["x.wav", "a"]])
    return ["--space", _space(tmp), "--data", str(tmp / "man" / "manifest.csv")]


def _no_test_fold(tmp: Path) -> list[str]:
    rows = []
    for k, cls in enumerate(("a", "b")):
        for i in range(4):
            write_audio(tmp / "folds" / f"{cls}{i}.flac", seed=10 * k + i)
            rows.append([f"{cls}{i}.flac", cls, "t" if i < 2 else "v"])
    write_csv(tmp / "folds" / "manifest.csv", ["path", "label", "fold"], rows)
    return _data_args(tmp / "folds", tmp) + ["--override", "data.fold_map={t: train, v: val}"]


def _profile(tmp: Path, text: str) -> list[str]:
    (tmp / "profile.yaml").write_text(text)
    return ["--space", _space(tmp), "--profile", str(tmp / "profile.yaml")]


def _file_as_storage_parent(tmp: Path) -> list[str]:
    (tmp / "a_file").write_text("a regular file cannot hold folders, even for root")
    return ["--space", _space(tmp), "--storage", str(tmp / "a_file" / "sub")]


def _birdclef_row_outside(tmp: Path) -> list[str]:
    root = tmp / "ds" / "bc"
    rows = []
    for k, cls in enumerate(("alpha", "beta")):
        for i in range(4):
            write_audio(root / "train_audio" / cls / f"{i}.wav", seed=10 * k + i)
            rows.append([cls, "[]", f"{cls}/{i}.wav"])
    write_audio(tmp / "ds" / "outside" / "secret.wav")
    write_csv(root / "train.csv", ["primary_label", "secondary_labels", "filename"],
              rows + [["beta", "[]", "../../outside/secret.wav"]])
    return _data_args(root, tmp)


def _class_link(tmp: Path) -> list[str]:
    root = _audio_classes(tmp / "linked", {"alpha": 4, "beta": 4})
    os.symlink("../beta", root / "alpha" / "zz")
    return _data_args(root, tmp)


def _mixed_images(tmp: Path) -> list[str]:
    for k, cls in enumerate("aabbcc"):
        write_image(tmp / "pics" / cls / f"{k}.png", seed=k, size=(16, 24) if k == 5 else (16, 16))
    return _data_args(tmp / "pics", tmp)


def _latin1_manifest(tmp: Path) -> list[str]:
    write_audio(tmp / "lat" / "x.wav")
    (tmp / "lat" / "manifest.csv").write_bytes("path,label\nx.wav,mésange\n".encode("latin-1"))
    return _data_args(tmp / "lat", tmp)


def _set(tmp: Path, *overrides: str) -> list[str]:
    """The tiny space with ``--override`` for each of ``overrides``."""
    return ["--space", _space(tmp), *(arg for text in overrides for arg in ("--override", text))]


def _a_file(tmp: Path) -> Path:
    (tmp / "a_file").write_text("a regular file, where a folder is expected")
    return tmp / "a_file"


Case = tuple[str, Callable[[Path], list[str]], tuple[str, ...]]
# (id, argv builder (gets a fresh tmp folder), substrings the error must hold: the problem, then the fix)
CASES: list[Case] = [
    ("unknown space", lambda t: ["--space", "nope"],
     ("unknown search space 'nope'", "shipped spaces: ", "simclr_temp")),
    ("unknown method", lambda t: ["--space", _space(t), "--override", "method.name=nope"],
     ("method.name='nope' is invalid", "must be one of barlow, byol")),
    ("temperature 0 by override", lambda t: ["--space", _space(t), "--override", "method.temperature=0"],
     ("method.temperature=0.0 is invalid", "must be a finite number > 0")),
    ("temperature < 0 in the space", lambda t: ["--space", _space(t, tiny_space_text(
        {**LR, "method.temperature": {"uniform": [-0.5, 1.0]}}, trials=2, epochs=2, concurrent=1, scheduler=ASHA,
        searched=("optim.lr",)))],
     ("method.temperature", "must be a finite number > 0")),
    ("batch larger than the train split", lambda t: ["--space", _space(t), "--override", "data.batch_size=4096"],
     ("data.batch_size=4096 is larger than the train split", "use at most")),
    ("embedding size 0", lambda t: ["--space", _space(t), "--override", "model.embedding_dim=0"],
     ("model.embedding_dim=0 is invalid", "must be an integer >= 1")),
    ("STFT window longer than the crop", lambda t: ["--space", _space(t), "--override", "frontend.n_fft=4096",
                                                    "--override", "data.crop_seconds=0.1"],
     ("frontend.n_fft=4096 is invalid", "gives 1600", "lower frontend.n_fft or lengthen data.crop_seconds")),
    ("mel bands without an FFT bin", lambda t: ["--space", _space(t), "--override", "frontend.n_mels=128",
                                                "--override", "frontend.n_fft=256"],
     ("frontend.n_mels=128 is invalid", "13 of the mel bands", "contain no FFT bin", "raise n_fft, lower n_mels")),
    ("missing data path", lambda t: ["--space", _space(t), "--data", str(t / "no_such_folder")],
     ("no_such_folder' is neither an embedded dataset", "pass --data (or data.dataset) an embedded dataset")),
    ("folder without usable files", _only_text,
     ("unrecognised dataset folder and no usable files", "Set data.format to one of")),
    ("only broken audio files", _only_broken_audio,
     ("no file of dataset 'broken' gives audio", "skipped 6", "re-export them as WAV/FLAC/OGG")),
    ("one class only", lambda t: _data_args(_audio_classes(t / "one", {"a": 6}), t),
     ("has 1 class(es) ['a']", "Add recordings of another class")),
    ("empty val split", lambda t: _data_args(_audio_classes(t / "tiny", {"a": 2, "b": 2, "c": 2}), t),
     ("the val split of 'tiny' is empty", "a class needs >= 3 recordings to reach val")),
    ("val split with one class", lambda t: _data_args(_audio_classes(t / "lopsided", {"a": 4, "b": 2, "c": 2}), t),
     ("the val split of 'lopsided' holds 1 class ['a']", "Give >= 2 classes at least 3 recordings each")),
    ("no test fold", _no_test_fold,
     ("the test split of 'folds' is empty", "Give data.fold_map a test fold")),
    ("manifest without the needed columns", _manifest_without_columns,
     ("missing column(s) 'path' or 'image', 'label'", "found columns ['file', 'species']",
      "Rename the header row's columns")),
    ("unreachable Ray address", lambda t: ["--space", _space(t), "--address", f"127.0.0.1:{free_loopback_port()}"],
     ("cannot reach the Ray cluster at '127.0.0.1:", "Connection refused", "that the cluster is up")),
    ("malformed Ray address", lambda t: ["--space", _space(t), "--address", "headnode"],
     ("--address 'headnode' is not host:port", "printed by `ray start --head`")),
    ("storage under a regular file", _file_as_storage_parent,
     ("a_file is a file, not a folder", "pass --storage a writable folder")),
    ("storage in /proc", lambda t: ["--space", _space(t), "--storage", "/proc/sys/ssl-search-test"],
     ("storage path /proc/sys/ssl-search-test is not writable", "pass --storage a writable folder")),
    ("zero workers per trial", lambda t: ["--space", _space(t), "--workers-per-trial", "0"],
     ("--workers-per-trial must be >= 1, got 0",)),
    ("more GPUs per trial than visible", lambda t: ["--space", _space(t), "--gpus-per-trial",
                                                    str(torch.cuda.device_count() + 1)],
     ("GPU", "--gpus-per-trial")),
    ("more CPUs per trial than the machine has", lambda t: ["--space", _space(t), "--cpus-per-trial",
                                                            str((os.cpu_count() or 1) + 1)],
     (f"one trial needs {(os.cpu_count() or 1) + 1} CPUs", "lower --cpus-per-trial")),
    ("profile that is not YAML", lambda t: _profile(t, "gpu: [1, 2\ncpu: {"),
     ("profile.yaml is not valid YAML", "fix --profile", "documents every key")),
    ("profile with a bad value", lambda t: _profile(t, "gpu: {cpus_per_trial: 4}\ncpu: {cpus_per_trial: -1}\n"
                                                       "workers_per_trial: 1\n"),
     ("section 'cpu': 'cpus_per_trial' must be a number >= 0.01, got -1", "fix --profile")),
    ("resume of nothing", lambda t: ["--space", _space(t), "--resume", "--name", "never_ran"],
     ("nothing to resume", "check --name and --storage")),
    # Issue 18: config fields that passed the dry run and failed every trial (or the machine).
    ("mel check blames the field set", lambda t: _set(t, "data.sample_rate=35092"),
     ("data.sample_rate=35092 is invalid: frontend.n_mels=64 is too many", "or change the sample rate")),
    ("negative train seed", lambda t: _set(t, "train.seed=-1"),
     ("train.seed=-1 is invalid", "use 0 or another non-negative seed")),
    ("negative split seed", lambda t: _set(t, "data.split_seed=-1"),
     ("data.split_seed=-1 is invalid", "use 0 or another non-negative seed")),
    ("device cuda:abc", lambda t: _set(t, "train.device=cuda:abc"),
     ("train.device='cuda:abc' is invalid", "cuda:N with N a GPU index")),
    ("device past the visible GPUs", lambda t: _set(t, f"train.device=cuda:{torch.cuda.device_count()}"),
     (f"train.device='cuda:{torch.cuda.device_count()}' is invalid",
      "use train.device=auto or cpu" if not torch.cuda.is_available() else "or train.device=auto")),
    ("100,000 loader processes", lambda t: _set(t, "data.num_workers=100000"),
     ("data.num_workers=100000 is invalid: must be at most", "lower data.num_workers")),
    ("a million crops per item", lambda t: _set(t, "data.crops_per_item=1000000"),
     ("data.crops_per_item=1000000 is invalid: must be at most 64", "lower it")),
    ("a batch larger than the machine's memory", lambda t: _set(t, "data.crops_per_item=64", "data.crop_seconds=3600"),
     ("data.crops_per_item=64 is invalid: one batch of", "more than 50% of this machine's",
      "lower data.crops_per_item, data.batch_size or data.crop_seconds")),
    ("a width past any use", lambda t: _set(t, "model.embedding_dim=10000000"),
     ("model.embedding_dim=10000000 is invalid: must be at most 65536", "lower it")),
    ("empty output folder", lambda t: _set(t, "train.output_dir="),
     ("train.output_dir='' is invalid", "name a folder for checkpoints")),
    ("data cache is a file", lambda t: _set(t, f"data.cache_dir={_a_file(t)}"),
     ("is a file, not a folder", "point data.cache_dir at a folder")),
    ("decode cache under a file", lambda t: _set(t, f"data.decode_cache={_a_file(t) / 'sub'}"),
     ("a_file is a file, not a folder, so", "point data.decode_cache at a folder (or auto, or off)")),
    ("BirdCLEF row outside the dataset folder", _birdclef_row_outside,
     ("train.csv: 1 listed file(s) resolve outside the dataset folder", "line 10: '../../outside/secret.wav' -> ",
      "set data.allow_outside_root=true")),
    ("symlink to another class folder", _class_link,
     ("alpha/zz -> ../beta (beta is indexed already)", "Remove the link or copy the files in its place")),
    ("images of mixed size", _mixed_images,
     ("images differ in size or mode: 5 of 6 are 16x16 RGB", "(16x24 RGB)", "convert('RGB')")),
    ("Latin-1 manifest", _latin1_manifest,
     ("manifest.csv: not UTF-8 text (byte 0xe9", "save it as UTF-8 CSV")),
    ("data cache in /proc", lambda t: _set(t, "data.cache_dir=/proc/nope"),
     ("data.cache_dir='/proc/nope' is invalid: /proc/nope cannot be created: /proc is a virtual file system",
      "point data.cache_dir at a folder that can be written")),
]


def _ray_children() -> list[str]:
    names = []
    for child in psutil.Process().children(recursive=True):
        try:
            names.append(child.name())
        except psutil.NoSuchProcess:
            pass
    return [n for n in names if "raylet" in n or "gcs_server" in n]


def _launch(argv: list[str], tmp_path: Path, monkeypatch, capsys) -> tuple[int, str, str, Path]:
    """Run launch.main in-process with Ray's temp dir in ``tmp_path``; (rc, stdout, stderr, storage)."""
    ray_tmp = tmp_path / "ray_tmp"
    monkeypatch.setenv("RAY_TMPDIR", str(ray_tmp))
    storage = tmp_path / "storage"
    if "--storage" not in argv:
        argv = [*argv, "--storage", str(storage)]
    if "--name" not in argv:
        argv = [*argv, "--name", "bad"]
    rc = launch.main(argv)
    out, err = capsys.readouterr()
    assert not list(ray_tmp.glob("**/session_*")), "a Ray session was started"
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()
    assert _ray_children() == []
    return rc, out, err, storage


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_ray_with_the_fix(case: Case, tmp_path, monkeypatch, capsys, data_cache) -> None:
    _, build, expected = case
    rc, out, err, storage = _launch(build(tmp_path), tmp_path, monkeypatch, capsys)
    assert rc == 2, (out, err)
    assert err.startswith("error: ") and "Traceback" not in err
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    assert not storage.exists(), "a refused launch must not create its storage"


def test_unreadable_files_are_skipped_counted_reported_and_long_tail_gaps_noted(tmp_path, monkeypatch,
                                                                                capsys) -> None:
    """A usable set with two broken files and a class too small for val: accepted (a dry run),
    the broken files listed in decode_report.json, the class without val items named."""
    root = _audio_classes(tmp_path / "mine", {"a": 4, "b": 4, "rare": 2})
    (root / "a" / "empty.wav").write_bytes(b"")
    (root / "b" / "text.flac").write_text("not audio at all")
    rc, out, err, storage = _launch([*_data_args(root, tmp_path), "--dry-run"], tmp_path, monkeypatch, capsys)
    assert rc == 0, err
    assert "audio files of mine: decoded 10, cached 0, skipped 2 (first: " in out
    report = json.loads((tmp_path / "decoded" / "decode_report.json").read_text())
    assert report["skipped_count"] == 2
    assert {Path(s["path"]).name for s in report["skipped"]} == {"empty.wav", "text.flac"}
    assert all(s["reason"] for s in report["skipped"])
    assert "note: 1 of 3 classes of 'mine' have no item in the val split (rare)" in out
    assert not (storage / "bad").exists()
