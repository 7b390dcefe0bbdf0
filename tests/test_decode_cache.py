"""Tests of the decoded-audio cache, the skip report, energy-weighted training windows and
evaluation windows, on real audio files written with soundfile."""
from __future__ import annotations

import json
import math
import multiprocessing
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from ssl_core.data.audio_dataset import AudioCropDataset, AudioWindowsDataset
from ssl_core.data.audio_decode import decode_mono
from ssl_core.data.decode_cache import DecodeCache, decode_cache_from_setting, prepare_audio
from ssl_core.data.embedded.paths import cache_root
from ssl_core.data.records import DatasetIndex, Item
from ssl_core.data.windows import collate_windows, mean_pool

RATE = 16000
F16_RTOL = 2.0**-10  # float16 keeps 11 significant bits: relative rounding error <= 2**-11
F16_ATOL = 1e-7  # float16 subnormals (|x| < 6e-5) are rounded to a fixed step of 6e-8


def write_audio(path: Path, wave: np.ndarray, rate: int = RATE, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, wave, rate, **kwargs)
    return path


def noise_files(folder: Path, count: int, seconds: float = 1.0) -> list[Item]:
    """``count`` OGG Vorbis files of noise with different lengths, at RATE."""
    rng = np.random.default_rng(1)
    items = []
    for k in range(count):
        wave = 0.2 * rng.standard_normal(int((seconds + 0.25 * k) * RATE))
        path = write_audio(folder / f"n{k}.ogg", wave, format="OGG", subtype="VORBIS")
        items.append(Item(path, k % 2, f"n{k}"))
    return items


@pytest.fixture()
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths of every ``soundfile.SoundFile`` opened from now on (``soundfile.read`` opens one too)."""
    opened: list[str] = []
    real = soundfile.SoundFile

    class CountingSoundFile(real):
        def __init__(self, file, *args, **kwargs):
            opened.append(str(file))
            super().__init__(file, *args, **kwargs)

    monkeypatch.setattr(soundfile, "SoundFile", CountingSoundFile)
    return opened


def epoch(dataset: AudioCropDataset, epoch_seed: int) -> list[torch.Tensor]:
    return [dataset[(i, epoch_seed * 1000 + i)][0] for i in range(len(dataset))]


# ---------------------------------------------------------------- the cache


def test_later_epochs_and_processes_never_decode(tmp_path: Path, opens: list[str]) -> None:
    items = noise_files(tmp_path / "audio", 4)
    opens.clear()  # writing the files opened them too
    cache = DecodeCache(tmp_path / "cache", RATE)
    dataset = AudioCropDataset(items, RATE, 0.25, num_crops=2, cache=cache)
    first = epoch(dataset, 1)  # lazy fill: each file decoded once, however many crops
    assert sorted(opens) == sorted(str(item.path) for item in items)
    opens.clear()
    epoch(dataset, 2)
    assert opens == []  # the second epoch opens no audio file

    # A new cache object over the same folder, as a later trial's process would build.
    again = DecodeCache(tmp_path / "cache", RATE)
    report = again.prepare(items)
    assert (report.decoded, report.cached, report.skipped) == (0, len(items), [])
    replay = epoch(AudioCropDataset(items, RATE, 0.25, num_crops=2, cache=again), 1)
    assert opens == []
    for a, b in zip(first, replay):
        assert torch.equal(a, b)
    assert isinstance(again.load(items[0]), np.memmap)

    # Loader worker processes get a copy of the cache without its open maps and read the same crops.
    assert pickle.loads(pickle.dumps(again))._maps == {}
    sampler = [(i, 1000 + i) for i in range(len(items))]
    loader = torch.utils.data.DataLoader(AudioCropDataset(items, RATE, 0.25, num_crops=2, cache=again), batch_size=2,
                                         sampler=sampler, num_workers=2, multiprocessing_context="fork")
    torch.testing.assert_close(torch.cat([waves for waves, _ in loader]), torch.stack(first), rtol=0, atol=0)


def test_modified_file_is_decoded_again(tmp_path: Path) -> None:
    items = noise_files(tmp_path / "audio", 3)
    cache = DecodeCache(tmp_path / "cache", RATE)
    assert cache.prepare(items).decoded == 3
    changed = items[1].path
    old_wave = np.array(cache.load(items[1]), dtype=np.float32)
    write_audio(changed, 0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE), format="OGG", subtype="VORBIS")
    stat = os.stat(changed)
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a coarse-mtime file system still sees a change
    later = DecodeCache(tmp_path / "cache", RATE)  # a later process
    report = later.prepare(items)
    assert (report.decoded, report.cached) == (1, 2)
    new_wave = decode_mono(changed, RATE)
    assert new_wave.shape != old_wave.shape or not np.allclose(new_wave, old_wave)
    np.testing.assert_allclose(later.load(items[1]).astype(np.float32), new_wave, rtol=F16_RTOL, atol=F16_ATOL)


def test_cached_crops_equal_fresh_decodes(tmp_path: Path) -> None:
    items = noise_files(tmp_path / "audio", 3, seconds=0.6)
    items.append(Item(write_audio(tmp_path / "audio/x.flac", np.random.default_rng(2).uniform(-1, 1, 9000), 22050),
                      1, "x"))
    cache = DecodeCache(tmp_path / "cache", RATE)
    cache.prepare(items)
    for item in items:
        cached = cache.load(item)
        assert cached.dtype == np.float16
        fresh_wave = decode_mono(item.path, RATE)
        np.testing.assert_allclose(cached.astype(np.float32), fresh_wave, rtol=F16_RTOL, atol=F16_ATOL)
    with_disk = AudioCropDataset(items, RATE, 0.3, num_crops=3, cache=cache)
    in_memory = AudioCropDataset(items, RATE, 0.3, num_crops=3, cache_decoded=True)
    fresh = AudioCropDataset(items, RATE, 0.3, num_crops=3, cache_decoded=False)
    for key in [0, 3, (1, 7), (2, 8), (3, 9)]:
        a, b, c = with_disk[key][0], in_memory[key][0], fresh[key][0]
        assert torch.equal(a, b)  # both caches round to float16 the same way
        np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=F16_RTOL, atol=F16_ATOL)


@pytest.mark.parametrize("file_rate", [22050, 32000, 44100])
def test_resampling_keeps_a_sines_frequency(tmp_path: Path, file_rate: int) -> None:
    freq, seconds = 1234.5, 1.5
    t = np.arange(int(seconds * file_rate)) / file_rate
    path = write_audio(tmp_path / f"sine{file_rate}.flac", 0.8 * np.sin(2 * np.pi * freq * t), file_rate)
    cache = DecodeCache(tmp_path / "cache", RATE)
    wave = cache.load(Item(path, 0, "s")).astype(np.float64)
    assert wave.shape[0] == pytest.approx(seconds * RATE, abs=2)
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    assert abs(int(np.argmax(spectrum)) - freq * wave.size / RATE) <= 1  # within one FFT bin
    middle = wave[RATE // 4: -RATE // 4]  # away from the resampler's edge effects
    assert np.sqrt(2 * np.mean(middle**2)) == pytest.approx(0.8, rel=0.02)


def test_stereo_is_downmixed_to_the_channel_mean(tmp_path: Path) -> None:
    t = np.arange(RATE // 2) / RATE
    left, right = 0.6 * np.sin(2 * np.pi * 300 * t), 0.3 * np.cos(2 * np.pi * 1700 * t)
    path = write_audio(tmp_path / "stereo.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    wave = DecodeCache(tmp_path / "cache", RATE).load(Item(path, 0, "st"))
    np.testing.assert_allclose(wave.astype(np.float32), (left + right) / 2, rtol=F16_RTOL, atol=F16_ATOL)


# ---------------------------------------------------------------- skip report


def test_broken_files_are_skipped_counted_and_reported(tmp_path: Path, opens: list[str]) -> None:
    audio = tmp_path / "audio"
    good = noise_files(audio, 2)
    rng = np.random.default_rng(3)
    ogg = write_audio(audio / "cut.ogg", 0.3 * rng.standard_normal(RATE), format="OGG", subtype="VORBIS")
    flac = write_audio(audio / "cut.flac", 0.3 * rng.standard_normal(3 * RATE))
    for path in (ogg, flac):  # cut the bytes in half
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    empty = audio / "empty.ogg"
    empty.write_bytes(b"")
    text = audio / "notes.ogg"
    text.write_text("recorded at dawn, no audio here\n" * 20)
    missing = audio / "gone.ogg"
    bad = {ogg: None, flac: "truncated", empty: "0 bytes", text: "not audio", missing: "unreadable"}
    items = good[:1] + [Item(path, 0, path.stem) for path in bad] + good[1:]
    index = DatasetIndex("mixed", "audio", tmp_path, tuple(items), ("a", "b", "c"))
    cache = DecodeCache(tmp_path / "cache", RATE)

    usable, report = prepare_audio(index, cache, report_dir=tmp_path / "run")
    assert usable.items == tuple(good) and usable.class_names == index.class_names and usable.name == "mixed"
    assert (report.decoded, report.cached, len(report.skipped)) == (2, 0, 5)
    reasons = dict(report.skipped)
    assert list(reasons) == [str(path) for path in bad]  # in item order
    for path, word in bad.items():
        if word is not None:
            assert word in reasons[str(path)]
    written = json.loads((tmp_path / "run" / "decode_report.json").read_text())
    assert written["skipped_count"] == 5 and written["decoded"] == 2
    assert {entry["path"]: entry["reason"] for entry in written["skipped"]} == reasons

    # A later process does not try the broken files again: their failure is remembered.
    opens.clear()
    usable_again, again = prepare_audio(index, DecodeCache(tmp_path / "cache", RATE))
    assert opens == []
    assert usable_again.items == usable.items and (again.cached, len(again.skipped)) == (2, 5)
    assert (tmp_path / "cache" / "decode_report.json").is_file()

    # Without a cache (data.decode_cache: off) the same files are found by decoding once, keeping nothing.
    unchecked, checked = prepare_audio(index, None, sample_rate=RATE, report_dir=tmp_path / "off")
    assert unchecked.items == usable.items and (checked.decoded, checked.cached) == (2, 0)
    assert dict(checked.skipped) == reasons
    assert json.loads((tmp_path / "off" / "decode_report.json").read_text())["skipped_count"] == 5


def test_prepare_audio_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    empty = tmp_path / "a.ogg"
    empty.write_bytes(b"")
    index = DatasetIndex("dead", "audio", tmp_path, (Item(empty, 0, "a"),), ("x",))
    with pytest.raises(ValueError, match="no file of dataset 'dead'"):
        prepare_audio(index, DecodeCache(tmp_path / "cache", RATE))
    with pytest.raises(ValueError, match="sample_rate"):
        prepare_audio(index, None)
    images = DatasetIndex("pics", "image", tmp_path, (), ())
    with pytest.raises(ValueError, match="audio"):
        prepare_audio(images, DecodeCache(tmp_path / "cache", RATE))


def test_prepare_with_a_process_pool(tmp_path: Path) -> None:
    items = noise_files(tmp_path / "audio", 5, seconds=0.3)
    (tmp_path / "audio" / "bad.ogg").write_text("not audio")
    items.append(Item(tmp_path / "audio" / "bad.ogg", 0, "bad"))
    cache = DecodeCache(tmp_path / "cache", RATE)
    report = cache.prepare(items, workers=2)
    assert (report.decoded, report.cached, len(report.skipped)) == (5, 0, 1)
    for item in items[:5]:
        np.testing.assert_allclose(cache.load(item).astype(np.float32), decode_mono(item.path, RATE),
                                   rtol=F16_RTOL, atol=F16_ATOL)


def _prepare_in_child(root: str, paths: list[str], lazy: bool, start: multiprocessing.Barrier,
                      results: multiprocessing.Queue) -> None:
    cache = DecodeCache(Path(root), RATE)
    items = [Item(Path(p), 0, p) for p in paths]
    start.wait(timeout=60)  # both processes begin together
    if lazy:  # no lock: both processes decode and rename over each other
        results.put(("lazy", [float(np.asarray(cache.load(item), dtype=np.float64).sum()) for item in items]))
    else:
        report = cache.prepare(items)
        results.put(("prepare", report.decoded, report.cached))


@pytest.mark.parametrize("lazy", [False, True])
def test_concurrent_processes_leave_a_consistent_cache(tmp_path: Path, lazy: bool) -> None:
    items = noise_files(tmp_path / "audio", 6, seconds=1.5)
    context = multiprocessing.get_context("fork")
    results, start = context.Queue(), context.Barrier(2)
    children = [context.Process(target=_prepare_in_child,
                                args=(str(tmp_path / "cache"), [str(i.path) for i in items], lazy, start, results))
                for _ in range(2)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    cache = DecodeCache(tmp_path / "cache", RATE)
    fresh = [decode_mono(item.path, RATE) for item in items]
    for item, wave in zip(items, fresh):
        np.testing.assert_allclose(cache.load(item).astype(np.float32), wave, rtol=F16_RTOL, atol=F16_ATOL)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".tmp")]  # no half files left
    if lazy:
        expected = [float(w.astype(np.float16).astype(np.float64).sum()) for w in fresh]
        for _, sums in outcomes:
            assert sums == pytest.approx(expected, rel=1e-12)
    else:
        # The prepare lock: one process decoded everything, the other found it cached.
        assert sum(o[1] for o in outcomes) == len(items) and sum(o[2] for o in outcomes) == len(items)


# ---------------------------------------------------------------- windows


def test_energy_weighted_windows_find_the_loud_part(tmp_path: Path) -> None:
    seconds, loud = 20, (12.0, 14.0)
    rng = np.random.default_rng(4)
    wave = 1e-3 * rng.standard_normal(seconds * RATE)  # quiet background...
    t = np.arange(seconds * RATE) / RATE
    song = (t >= loud[0]) & (t < loud[1])
    wave[song] += 0.5 * np.sin(2 * np.pi * 2500 * t[song])  # ...with 2 s of loud song
    item = Item(write_audio(tmp_path / "long.flac", wave), 0, "long")
    cache = DecodeCache(tmp_path / "cache", RATE)

    def loud_fraction(weighting: str, use_cache: bool) -> tuple[float, float]:
        dataset = AudioCropDataset([item], RATE, 1.0, num_crops=1, window_weighting=weighting,
                                   cache=cache if use_cache else None)
        power = np.array([float(np.mean(dataset[(0, seed)][0].numpy() ** 2)) for seed in range(300)])
        on_song = power > 0.01  # the song's mean square is 0.125: > 0.01 means >= 0.08 s of song in the window
        silent = power < 1e-5
        return float(on_song.mean()), float(silent.mean())

    uniform_on, _ = loud_fraction("uniform", True)
    energy_on, energy_silent = loud_fraction("energy", True)
    # Uniform starts in [0, 19] s overlap the song for starts in (11, 14): ~3/19 of draws.
    assert 0.05 < uniform_on < 0.3
    assert energy_on > 0.8 and energy_on > 3 * uniform_on
    assert energy_silent > 0  # the floor keeps background-only windows possible
    no_cache = AudioCropDataset([item], RATE, 1.0, num_crops=2, window_weighting="energy")
    with_cache = AudioCropDataset([item], RATE, 1.0, num_crops=2, window_weighting="energy", cache=cache)
    for seed in range(5):  # energies from the cache equal those computed in memory
        assert torch.equal(no_cache[(0, seed)][0], with_cache[(0, seed)][0])


def ramp_item(folder: Path, length: int, label: int) -> Item:
    """A float WAV whose sample i is (i + 1) / 2**20, so each value names its position.

    Not exact in float16: datasets reading it keep float32 (``cache_decoded=False``, no cache).
    """
    path = write_audio(folder / f"ramp{length}.wav", (np.arange(length) + 1) / 2**20, subtype="FLOAT")
    return Item(path, label, f"r{length}")


def positions(windows: torch.Tensor) -> np.ndarray:
    return np.rint(windows.numpy().astype(np.float64) * 2**20).astype(np.int64) - 1


def test_eval_mean_windows_cover_the_recording_and_batch(tmp_path: Path) -> None:
    crop, max_windows = 4000, 5
    lengths = [3000, 4000, 10000, 50000]
    items = [ramp_item(tmp_path, length, label) for label, length in enumerate(lengths)]
    dataset = AudioWindowsDataset(items, RATE, crop / RATE, max_windows=max_windows, cache_decoded=False)
    for index, length in enumerate(lengths):
        windows, label = dataset[(index, 99)]
        pos = positions(windows)
        expected = 1 if length <= crop else min(math.ceil(length / crop), max_windows)
        assert windows.shape == (expected, crop) and label == index
        assert np.all((pos[:, 1:] - pos[:, :-1]) % length == 1)  # contiguous (circular for the short one)
        assert pos[0, 0] == 0 and (pos[-1, -1] == length - 1 or length < crop)  # from the start to the end
        if math.ceil(length / crop) <= max_windows:
            assert set(pos.ravel().tolist()) == set(range(length))  # every sample is covered
        else:
            gaps = np.diff(pos[:, 0])
            assert gaps.max() - gaps.min() <= 1  # evenly spread when capped
    from_cache = AudioWindowsDataset(items, RATE, crop / RATE, max_windows=max_windows,
                                     cache=DecodeCache(tmp_path / "cache", RATE))
    for index in range(len(items)):
        np.testing.assert_allclose(from_cache[index][0].numpy(), dataset[index][0].numpy(),
                                   rtol=F16_RTOL, atol=F16_ATOL)
    centre = AudioWindowsDataset(items, RATE, crop / RATE, mode="centre", cache_decoded=False)
    crops = AudioCropDataset(items, RATE, crop / RATE, train=False, cache_decoded=False)
    for index in range(len(items)):
        assert torch.equal(centre[index][0], crops[index][0])

    loader = torch.utils.data.DataLoader(dataset, batch_size=3, collate_fn=collate_windows)
    pooled, all_labels = [], []
    for windows, counts, labels in loader:
        assert windows.shape[0] == int(counts.sum()) and counts.shape == labels.shape
        features = torch.stack([windows.mean(dim=1), windows.max(dim=1).values], dim=1).double()  # [sum W, 2]
        pooled.append(mean_pool(features, counts))
        all_labels.append(labels)
    pooled_all = torch.cat(pooled)
    assert torch.cat(all_labels).tolist() == list(range(len(lengths)))
    for index in range(len(items)):
        w = dataset[index][0].double()
        reference = torch.stack([w.mean(dim=1), w.max(dim=1).values], dim=1).sum(dim=0) / w.shape[0]
        torch.testing.assert_close(pooled_all[index], reference)


def test_mean_pool_and_validation(tmp_path: Path) -> None:
    embeddings = torch.arange(12.0).view(6, 2)
    pooled = mean_pool(embeddings, torch.tensor([1, 3, 2]))
    torch.testing.assert_close(pooled, torch.stack([embeddings[0], embeddings[1:4].mean(0), embeddings[4:].mean(0)]))
    with pytest.raises(ValueError, match="sum to 5"):
        mean_pool(embeddings, torch.tensor([2, 3]))
    with pytest.raises(ValueError, match="positive"):
        mean_pool(embeddings, torch.tensor([6, 0]))
    item = noise_files(tmp_path, 1)[0]
    with pytest.raises(ValueError, match="window_weighting 'loud'"):
        AudioCropDataset([item], RATE, 0.1, window_weighting="loud")
    with pytest.raises(ValueError, match="energy_floor"):
        AudioCropDataset([item], RATE, 0.1, energy_floor=1.5)
    with pytest.raises(ValueError, match="mode 'max'"):
        AudioWindowsDataset([item], RATE, 0.1, mode="max")
    with pytest.raises(ValueError, match="max_windows 0"):
        AudioWindowsDataset([item], RATE, 0.1, max_windows=0)
    with pytest.raises(ValueError, match="22050 Hz"):
        AudioCropDataset([item], 22050, 0.1, cache=DecodeCache(tmp_path / "c", RATE))
    with pytest.raises(ValueError, match="sample_rate 0"):
        DecodeCache(tmp_path / "c", 0)
    assert decode_cache_from_setting("off", None, RATE) is None
    assert decode_cache_from_setting("auto", tmp_path, RATE).root == (tmp_path / "decoded").absolute()
    assert decode_cache_from_setting("auto", None, RATE).root == (cache_root(None) / "decoded").absolute()
    assert decode_cache_from_setting(str(tmp_path / "d"), None, 8000).root == (tmp_path / "d").absolute()
    with pytest.raises(ValueError, match="decode_cache"):
        decode_cache_from_setting("", None, RATE)
