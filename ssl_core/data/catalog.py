"""Dataset by name or folder: the one entry point the trainer uses."""
from __future__ import annotations

from pathlib import Path

from .birdclef import AUDIO_DIR, CSV_NAMES, find_birdclef_csv, load_birdclef
from .embedded import EMBEDDED, embedded_path
from .image_csv import load_image_csv
from .records import DatasetIndex

IMAGE_CSV = "images.csv"
# The reader for each embedded dataset's layout.
_EMBEDDED_READERS = {"birdsong": load_birdclef, "digits": load_image_csv}


def load_dataset(name_or_path: str, cache_dir: Path | None = None) -> DatasetIndex:
    """Index an embedded dataset by name (generated on first use) or a dataset folder.

    A folder is detected as BirdCLEF (``train.csv`` or ``train_metadata.csv`` plus
    ``train_audio/``) or as an image CSV folder (``images.csv``).
    """
    if name_or_path in EMBEDDED:
        return _EMBEDDED_READERS[name_or_path](embedded_path(name_or_path, cache_dir), name=name_or_path)
    root = Path(name_or_path).expanduser()
    if not root.exists():
        raise FileNotFoundError(
            f"dataset {name_or_path!r} is neither an embedded dataset {EMBEDDED} nor an existing path"
        )
    if not root.is_dir():
        raise ValueError(f"dataset path {root} must be a folder")
    name = root.resolve().name
    if find_birdclef_csv(root) is not None and (root / AUDIO_DIR).is_dir():
        return load_birdclef(root, name=name)
    if (root / IMAGE_CSV).is_file():
        return load_image_csv(root, IMAGE_CSV, name=name)
    raise ValueError(
        f"{root}: unrecognised dataset folder; looked for {' or '.join(CSV_NAMES)} with "
        f"{AUDIO_DIR}/ (BirdCLEF) or {IMAGE_CSV} (images)"
    )
