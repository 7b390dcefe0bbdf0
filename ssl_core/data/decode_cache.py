"""An on-disk cache of decoded, resampled audio, shared by epochs, loader processes and trials.

Decoding OGG is the most expensive thing a CPU loader does; the cache does it once per file.
Each recording becomes one ``.npy`` (float16 ``[L]``) that later readers open with
``np.load(mmap_mode="r")`` and slice, so a crop reads only its own pages. Entries are keyed by
(absolute path, file size, modification time, target sample rate): a file changed on disk gets a
new key and is decoded again; stale entries are simply never read.

Layout under ``root``::

    sr16000/ab/ab12...ef.npy          the waveform, float16 [L]
    sr16000/ab/ab12...ef.energy.npy   per-0.1 s frame mean squares, float32 (energy-weighted windows)
    sr16000/ab/ab12...ef.skip.json    why this file gives no audio (so no later process tries again)

float16 rather than int16 (both 2 bytes per sample): float16's precision is relative, so a
quiet recording (peak at -40 dBFS) keeps ~11 significant bits where int16 would leave it ~9, and
Vorbis' small overshoots beyond +-1 survive without clipping. It is also the rounding the
in-memory cache of :class:`AudioCropDataset` applies, so crops are identical with either cache.
Disk use: 2 bytes x sample_rate per second of audio (1.9 MB per minute at 16 kHz).

Every file is written to a temporary name in the same folder and renamed with ``os.replace``
(atomic on POSIX), so concurrent processes see a whole entry or none; concurrent writers of one
entry write identical bytes and the last rename wins. ``prepare`` also takes an advisory lock
(``flock``, released by the kernel if the holder dies) so trials starting together do not all
decode the same files: the first decodes, the others wait and then find everything cached.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

import numpy as np

from ssl_core.atomic import atomic_file

from .audio_decode import UndecodableAudio, decode_mono
from .records import DatasetIndex, Item
from .windows import frame_energy, frame_samples

try:  # advisory locking is POSIX-only; without it concurrent prepares only duplicate work
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

CACHE_VERSION = 1  # part of every key: bump when decoding changes so old entries are not reused
REPORT_NAME = "decode_report.json"
MAX_OPEN_MAPS = 4096  # memmaps kept open per process (oldest closed first)


@dataclass
class DecodeReport:
    """What a ``prepare`` pass did: files decoded now, found cached, and skipped with the reason."""

    decoded: int = 0
    cached: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def summary(self) -> str:
        """One line for the console, e.g. ``decoded 10, cached 440, skipped 2 (first: a.ogg: empty file)``."""
        line = f"decoded {self.decoded}, cached {self.cached}, skipped {len(self.skipped)}"
        if self.skipped:
            path, reason = self.skipped[0]
            line += f" (first: {path}: {reason})"
        return line

    def to_dict(self) -> dict:
        return {"decoded": self.decoded, "cached": self.cached, "skipped_count": len(self.skipped),
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}

    def write(self, directory: Path | str) -> Path:
        """Write ``decode_report.json`` into ``directory`` (atomically); return its path."""
        path = Path(directory) / REPORT_NAME
        text = json.dumps(self.to_dict(), indent=2).encode()
        _atomic_write(path, lambda f: f.write(text))
        return path


class DecodeCache:
    """Decoded audio at one sample rate under ``root`` (see the module docstring for the layout).

    Picklable (root, rate and the key memo), so DataLoader workers and process pools share it.
    File keys are taken with ``os.stat`` once per process (``prepare`` re-takes them): a run
    sees one consistent version of its data and never stats a network file system per crop.
    """

    def __init__(self, root: Path | str, sample_rate: int) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate {sample_rate} must be > 0")
        self.root = Path(root).expanduser().absolute()
        self.sample_rate = int(sample_rate)
        self.frame = frame_samples(self.sample_rate)
        self._stems: dict[str, Path] = {}  # absolute source path -> entry path without suffix
        self._maps: dict[Path, np.ndarray] = {}  # open memmaps: np.load's header parse is half a crop's cost

    def __getstate__(self) -> dict:
        # Memmaps would pickle as full copies of their data; a worker process reopens its own.
        return {**self.__dict__, "_maps": {}}

    def __repr__(self) -> str:
        return f"DecodeCache({str(self.root)!r}, sample_rate={self.sample_rate})"

    # ------------------------------------------------------------------ keys and paths

    def _stem(self, item: Item, refresh: bool = False) -> Path:
        source = os.path.abspath(item.path)
        stem = None if refresh else self._stems.get(source)
        if stem is None:
            stat = os.stat(source)
            key = f"v{CACHE_VERSION}|{self.sample_rate}|{stat.st_size}|{stat.st_mtime_ns}|{source}"
            digest = hashlib.sha256(key.encode()).hexdigest()[:32]
            # Two-level folders keep directory listings short for datasets of ~100k files.
            stem = self.root / f"sr{self.sample_rate}" / digest[:2] / digest
            self._stems[source] = stem
        return stem

    def path_for(self, item: Item) -> Path:
        """The cache file of ``item``'s waveform (it may not exist yet)."""
        return self._stem(item).with_suffix(".npy")

    def is_cached(self, item: Item) -> bool:
        return self.path_for(item).is_file()

    # ------------------------------------------------------------------ reading

    def load(self, item: Item) -> np.ndarray:
        """``item``'s waveform, ``[L]`` float16, memory-mapped read-only.

        Decodes and stores it first if it is not cached yet (a lazy fill, so a dataset works
        without ``prepare``). Raises :class:`UndecodableAudio` for a file known to give no audio.
        """
        stem = self._stem(item)
        wave = self._maps.get(stem)
        if wave is not None:
            return wave
        wave = _try_mmap(stem.with_suffix(".npy"))
        if wave is None:
            known = _read_skip(stem)
            if known is not None:
                raise UndecodableAudio(item.path, known)
            status, reason = _fill(stem, str(item.path), self.sample_rate, self.frame)
            if status == "skipped":
                raise UndecodableAudio(item.path, reason)
            wave = _try_mmap(stem.with_suffix(".npy"))
            if wave is None:
                raise OSError(f"decode cache entry {stem}.npy vanished right after it was written")
        if len(self._maps) >= MAX_OPEN_MAPS:
            # Bounded: each map holds a file mapping, and the kernel caps mappings per process (~65k).
            self._maps.pop(next(iter(self._maps)))
        self._maps[stem] = wave
        return wave

    def frame_energy(self, item: Item) -> np.ndarray:
        """Mean square of each 0.1 s frame of ``item``, ``[ceil(L / frame)]`` float32 (cached too)."""
        path = self._stem(item).with_suffix(".energy.npy")
        try:
            return np.load(path)
        except (OSError, ValueError, EOFError):
            energy = frame_energy(self.load(item), self.frame)
            _atomic_write(path, lambda f: np.save(f, energy))
            return energy

    # ------------------------------------------------------------------ filling

    def prepare(self, items: Sequence[Item], workers: int = 0) -> DecodeReport:
        """Decode every item not cached yet (with ``workers`` processes; 0 = this process).

        Never raises for a bad file: missing, unreadable, empty, non-audio, corrupt or truncated
        files are listed in ``report.skipped`` with the reason, in item order.
        """
        if workers < 0:
            raise ValueError(f"workers {workers} must be >= 0")
        outcome: dict[int, tuple[str, str | None]] = {}
        todo: list[tuple[int, Path, str]] = []
        with self._prepare_lock():
            for position, item in enumerate(items):
                try:
                    stem = self._stem(item, refresh=True)
                except OSError as error:
                    outcome[position] = ("skipped", f"unreadable ({error.strerror or error})")
                    continue
                if stem.with_suffix(".npy").is_file():
                    outcome[position] = ("cached", None)
                elif (reason := _read_skip(stem)) is not None:
                    outcome[position] = ("skipped", reason)
                else:
                    todo.append((position, stem, str(item.path)))
            n = len(todo)
            results = _run_all(_fill, workers, [stem for _, stem, _ in todo], [source for _, _, source in todo],
                               [self.sample_rate] * n, [self.frame] * n)
            for (position, _, _), result in zip(todo, results):
                outcome[position] = result
        return _report(items, [outcome[position] for position in range(len(items))])

    @contextmanager
    def _prepare_lock(self) -> Iterator[None]:
        folder = self.root / f"sr{self.sample_rate}"
        folder.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            yield
            return
        with open(folder / ".prepare.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def check_audio(items: Sequence[Item], sample_rate: int, workers: int = 0) -> DecodeReport:
    """Decode every item once and keep nothing: the skip report without a cache (``decoded`` counts the good ones)."""
    if workers < 0:
        raise ValueError(f"workers {workers} must be >= 0")
    return _report(items, _run_all(_probe, workers, [str(item.path) for item in items], [sample_rate] * len(items)))


def prepare_audio(index: DatasetIndex, cache: DecodeCache | None, workers: int = 0,
                  report_dir: Path | str | None = None, sample_rate: int | None = None,
                  ) -> tuple[DatasetIndex, DecodeReport]:
    """Decode ``index``'s audio into ``cache`` and drop the items that give no audio.

    Call it before splitting, so splits are made on usable files. Returns the index without
    the skipped items (same name, root and ``class_names``) and the report, which is also
    written to ``report_dir/decode_report.json`` (default: the cache root). With ``cache=None``
    (``data.decode_cache: off``) every file is decoded once at ``sample_rate`` just to check it
    (:func:`check_audio`) and the report is written only if ``report_dir`` is given.
    Raises ValueError when the index is not audio, or when no item at all gives audio.
    """
    if index.modality != "audio":
        raise ValueError(f"prepare_audio needs an audio dataset; {index.name!r} is {index.modality!r}")
    if cache is not None:
        report = cache.prepare(index.items, workers=workers)
        report.write(report_dir if report_dir is not None else cache.root)
    else:
        if sample_rate is None:
            raise ValueError("prepare_audio without a cache needs the sample_rate to decode at")
        report = check_audio(index.items, sample_rate, workers)
        if report_dir is not None:
            report.write(report_dir)
    bad = {path for path, _ in report.skipped}
    kept = tuple(item for item in index.items if str(item.path) not in bad)
    if not kept and index.items:
        raise ValueError(f"no file of dataset {index.name!r} gives audio: {report.summary()}")
    return dataclasses.replace(index, items=kept), report


def decode_cache_from_setting(setting: str, data_cache_dir: Path | str | None, sample_rate: int) -> DecodeCache | None:
    """``data.decode_cache`` -> a cache: "off" -> None, "auto" -> ``<data cache>/decoded``, else that folder.

    ``data_cache_dir`` is ``data.cache_dir`` (None: ``$SSL_SEARCH_CACHE`` or ``~/.cache/ssl-search``).
    """
    from .embedded.paths import cache_root

    if not isinstance(setting, str) or not setting.strip():
        raise ValueError(f"data.decode_cache {setting!r} must be 'auto', 'off' or a directory")
    if setting == "off":
        return None
    if setting == "auto":
        return DecodeCache(cache_root(Path(data_cache_dir) if data_cache_dir else None) / "decoded", sample_rate)
    return DecodeCache(Path(setting), sample_rate)


# ---------------------------------------------------------------------- module-level workers
# (module-level so a spawn process pool can pickle them)


def _fill(stem: Path, source: str, sample_rate: int, frame: int) -> tuple[str, str | None]:
    """Decode ``source`` into the entry ``stem``: ("decoded", None) or ("skipped", reason)."""
    try:
        wave = decode_mono(source, sample_rate)
    except UndecodableAudio as error:
        _atomic_write(stem.with_suffix(".skip.json"),
                      lambda f: f.write(json.dumps({"path": source, "reason": error.reason}).encode()))
        return "skipped", error.reason
    except OSError as error:  # missing or unreadable: may change without the bytes changing, so not remembered
        return "skipped", f"unreadable ({error.strerror or error})"
    wave16 = wave.astype(np.float16)
    energy = frame_energy(wave16, frame)
    # Energy first: the waveform's presence marks a complete entry.
    _atomic_write(stem.with_suffix(".energy.npy"), lambda f: np.save(f, energy))
    _atomic_write(stem.with_suffix(".npy"), lambda f: np.save(f, wave16))
    return "decoded", None


def _probe(source: str, sample_rate: int) -> tuple[str, str | None]:
    """Decode ``source`` and drop the result: ("decoded", None) or ("skipped", reason)."""
    try:
        decode_mono(source, sample_rate)
    except UndecodableAudio as error:
        return "skipped", error.reason
    except OSError as error:
        return "skipped", f"unreadable ({error.strerror or error})"
    return "decoded", None


def _report(items: Sequence[Item], outcomes: Sequence[tuple[str, str | None]]) -> DecodeReport:
    """Count per-item ("decoded" | "cached" | "skipped", reason) outcomes into a report."""
    report = DecodeReport()
    for item, (status, reason) in zip(items, outcomes):
        if status == "skipped":
            report.skipped.append((str(item.path), str(reason)))
        elif status == "cached":
            report.cached += 1
        else:
            report.decoded += 1
    return report


def _run_all(function: Callable[..., tuple[str, str | None]], workers: int,
             *arguments: list) -> list[tuple[str, str | None]]:
    """``[function(*args) for args in zip(*arguments)]``, in this process or ``workers`` processes."""
    if workers == 0 or len(arguments[0]) <= 1:
        with _one_torch_thread():
            return list(map(function, *arguments))
    # fork where the OS has it, as DataLoader workers do: a spawned child re-imports torch
    # (5-20 s each on a busy machine). Like DataLoader workers, each child then runs torch on
    # one thread, which also keeps it clear of the OpenMP pool state inherited from the parent.
    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method),
                             initializer=_single_thread) as pool:
        chunk = max(1, min(16, len(arguments[0]) // (4 * workers)))
        return list(pool.map(function, *arguments, chunksize=chunk))


def _try_mmap(path: Path) -> np.ndarray | None:
    try:
        return np.load(path, mmap_mode="r")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError):
        # Unreadable entry (e.g. a file emptied by a crash before its data reached the disk):
        # decode again and replace it.
        return None


def _read_skip(stem: Path) -> str | None:
    try:
        return str(json.loads(stem.with_suffix(".skip.json").read_text())["reason"])
    except (OSError, ValueError, KeyError):
        return None


def _atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write(handle)`` into ``path`` atomically (readers see all or nothing); no fsync: a cache
    entry lost in a power cut is decoded again."""
    with atomic_file(path, binary=True, fsync=False) as handle:
        write(handle)


def _single_thread() -> None:
    """Pool initializer: one torch thread per decoding process, so N workers use N cores."""
    import torch

    torch.set_num_threads(1)


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Resample on one thread while decoding in this process, then restore the thread count.

    One file's resampling is a short convolution: intra-op threads gain little on it, and on a
    busy machine they cost a lot (measured on 2 shared cores: 4 ms on 1 thread vs 32-170 ms on 2
    for 9 s of audio).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
