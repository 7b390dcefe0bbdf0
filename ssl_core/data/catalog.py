"""Dataset by name, folder or CSV: the one entry point the trainer uses.

``data.format="auto"`` looks at a folder in this order and takes the first that fits:

1. ``birdclef``: ``train.csv`` or ``train_metadata.csv`` next to ``train_audio/`` (2022-2025)
   or ``train_short_audio/`` (2021);
2. ``image_csv``: ``images.csv``;
3. a manifest: ``manifest.csv`` (audio or images, from the files' extensions);
4. a folder per class, ``<root>/<class>/<file>``: audio or images by the files' extensions
   (both kinds at once is an error; name the format to keep one kind);
5. otherwise ValueError naming what was looked for and how to set ``data.format``.

``data.manifest`` (or a path to a ``.csv`` file as the dataset) skips detection: that CSV is
read as a manifest. A named format reads only its own layout and says what it expects when the
folder does not fit.
"""
from __future__ import annotations

from pathlib import Path

from .birdclef import AUDIO_DIRS, CSV_NAMES, EXPECTED_LAYOUT, find_birdclef_audio_dir, find_birdclef_csv, load_birdclef
from .embedded import EMBEDDED_NAMES, embedded_generator, embedded_path
from .folders import UNLABELLED_DIR, folder_modality, load_folder, scan_folder
from .image_csv import IMAGE_CSV, load_image_csv
from .image_headers import check_image_headers
from .manifest import load_manifest
from .media import EXTENSIONS
from .records import DatasetIndex

FORMATS = ("auto", "birdclef", "audio_folder", "image_folder", "audio_csv", "image_csv")
MANIFEST_CSV = "manifest.csv"
# The CSV a *_csv format reads when data.manifest is not set, in order of preference.
DEFAULT_CSVS = {"image_csv": (IMAGE_CSV, MANIFEST_CSV), "audio_csv": (MANIFEST_CSV,)}
# The reader (and format) of each embedded generator's layout; a larger draw such as
# birdsong-x4 has its generator's layout.
_EMBEDDED_FORMATS = {"birdsong": "birdclef", "digits": "image_csv"}
_CSV_COLUMNS = "columns path (or image),label[,fold] (an empty label = unlabelled)"
EXPECTS = {
    "birdclef": EXPECTED_LAYOUT,
    "audio_folder": f"<root>/<class>/<file> with an extension in {EXTENSIONS['audio']} "
                    f"(files directly under <root> or in {UNLABELLED_DIR}/ are unlabelled)",
    "image_folder": f"<root>/<class>/<file> with an extension in {EXTENSIONS['image']} "
                    f"(files directly under <root> or in {UNLABELLED_DIR}/ are unlabelled)",
    "audio_csv": f"{MANIFEST_CSV} or the CSV named by data.manifest, {_CSV_COLUMNS}, listing audio files",
    "image_csv": f"{IMAGE_CSV}, {MANIFEST_CSV} or the CSV named by data.manifest, {_CSV_COLUMNS}, listing images",
}


def _check_format(format: str, manifest: str | Path | None) -> None:
    if format not in FORMATS:
        raise ValueError(f"data.format {format!r} is not one of {FORMATS}")
    if manifest is not None and format not in ("auto", "audio_csv", "image_csv"):
        raise ValueError(f"data.manifest={str(manifest)!r} is only read by data.format auto, audio_csv or "
                         f"image_csv, not {format!r}; unset one of them")


def _resolve_manifest(root: Path, manifest: str | Path) -> Path:
    """``manifest`` as given if absolute, else relative to the dataset folder."""
    path = Path(manifest).expanduser()
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise FileNotFoundError(f"data.manifest {str(manifest)!r}: {path} does not exist (a relative "
                                f"manifest path is read from the dataset folder {root})")
    return path


def _not_this_format(format: str, root: Path, found: str) -> ValueError:
    return ValueError(f"{root} does not fit data.format={format!r}, which expects {EXPECTS[format]}; "
                      f"{found}. Use data.format=auto to detect the layout")


def _load_named(format: str, root: Path, name: str, outside: bool, group: str | None = None) -> DatasetIndex:
    """Read ``root`` with the layout of ``format`` (not "auto"); ``outside``: data.allow_outside_root."""
    if format == "birdclef":
        if find_birdclef_csv(root) is None or find_birdclef_audio_dir(root) is None:
            raise _not_this_format(format, root, f"found {sorted(p.name for p in root.iterdir())[:10]}")
        return load_birdclef(root, name=name, allow_outside_root=outside, group_column=group)
    if format in ("audio_folder", "image_folder"):
        _no_group_column(group, root)
        modality = format.split("_")[0]
        return load_folder(root, modality, name=name, allow_outside_root=outside)
    for csv_name in DEFAULT_CSVS[format]:
        if (root / csv_name).is_file():
            return load_manifest(root / csv_name, name=name, modality=format.split("_")[0], format_name=format,
                                 allow_outside_root=outside, group_column=group)
    raise _not_this_format(format, root, f"there is no {' or '.join(DEFAULT_CSVS[format])}")


def _detect(root: Path, outside: bool = False) -> tuple[str, dict[str, list[str]] | None]:
    """(format, the folder scan if one was needed, so that it is not walked twice)."""
    if find_birdclef_csv(root) is not None and find_birdclef_audio_dir(root) is not None:
        return "birdclef", None
    if (root / IMAGE_CSV).is_file():
        return "image_csv", None
    if (root / MANIFEST_CSV).is_file():
        return "manifest", None
    scanned = scan_folder(root, outside)
    modality = folder_modality(root, scanned)
    if modality is not None:
        return f"{modality}_folder", scanned
    raise ValueError(
        f"{root}: unrecognised dataset folder and no usable files in it. Looked for, in order: "
        f"{' or '.join(CSV_NAMES)} with {'/ or '.join(AUDIO_DIRS)}/ (BirdCLEF); {IMAGE_CSV} (image CSV); "
        f"{MANIFEST_CSV} (a manifest, {_CSV_COLUMNS}); class folders <root>/<class>/<file> with audio "
        f"{EXTENSIONS['audio']} or image {EXTENSIONS['image']} files. Set data.format to one of "
        f"{FORMATS[1:]} (and data.manifest to name a CSV) to read another layout"
    )


def detect_format(root: Path) -> str:
    """The layout of folder ``root`` (rules in the module docstring): a name of :data:`FORMATS`,
    or ``"manifest"`` for ``manifest.csv``, whose modality comes from its files. Raises
    ValueError when nothing fits, or when a folder holds both audio and images."""
    return _detect(Path(root).expanduser().resolve())[0]


def load_dataset(
    name_or_path: str,
    cache_dir: Path | None = None,
    format: str = "auto",
    manifest: str | Path | None = None,
    allow_outside_root: bool = False,
    group_column: str | None = None,
) -> DatasetIndex:
    """Index an embedded dataset by name (generated on first use), a dataset folder or a CSV.

    format: one of :data:`FORMATS` (``data.format``); "auto" detects the layout (module
    docstring). manifest: a CSV (absolute, or relative to the folder) read as a manifest; its
    paths are relative to the CSV's own folder. A missing path raises FileNotFoundError; a
    folder that fits no layout, or not the named one, raises ValueError saying what was
    expected and how to set ``data.format``. Files must resolve inside the dataset folder
    (``data.allow_outside_root`` lifts that: ``containment.py``), and images must share one
    size and mode, checked from their headers (``image_headers.py``).
    """
    index = _load_index(name_or_path, cache_dir, format, manifest, allow_outside_root, group_column or None)
    if index.modality == "image":
        check_image_headers([item.path for item in index.items], f"dataset {index.name!r} ({index.root})")
    return index


def _no_group_column(group: str | None, root: Path) -> None:
    if group:
        raise ValueError(f"data.group_column={group!r}: {root} is read as class folders, which have no columns; "
                         "list the files in a manifest.csv with a column for the groups (path,label,{group}) "
                         "or leave data.group_column empty")


def _load_index(name_or_path: str, cache_dir: Path | None, format: str, manifest: str | Path | None,
                outside: bool, group: str | None = None) -> DatasetIndex:
    """:func:`load_dataset` before the image check."""
    _check_format(format, manifest)
    if name_or_path in EMBEDDED_NAMES:
        embedded_format = _EMBEDDED_FORMATS[embedded_generator(name_or_path)[0]]
        if format not in ("auto", embedded_format) or manifest is not None:
            raise ValueError(f"embedded dataset {name_or_path!r} has the {embedded_format!r} layout; "
                             f"leave data.format=auto (got {format!r}) and data.manifest unset")
        root = embedded_path(name_or_path, cache_dir)
        if embedded_format == "birdclef":
            return load_birdclef(root, name=name_or_path, group_column=group)
        return load_image_csv(root, IMAGE_CSV, name=name_or_path, group_column=group)
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"dataset {name_or_path!r} is neither an embedded dataset {EMBEDDED_NAMES} nor an existing path"
        )
    if path.is_file():
        if path.suffix.lower() != ".csv" or manifest is not None:
            raise ValueError(f"dataset path {path} must be a folder or a .csv manifest "
                             "(with data.manifest set, data.dataset must be the folder)")
        path, manifest = path.parent, path.name
        _check_format(format, manifest)
    root = path.resolve()
    name = root.name
    if manifest is not None:
        modality = None if format == "auto" else format.split("_")[0]
        # A data.manifest in a sub-folder (lists/subset.csv) may name ../clips/a.wav: the root is the dataset's.
        return load_manifest(_resolve_manifest(root, manifest), name=name, modality=modality, root=root,
                             format_name=None if format == "auto" else format, allow_outside_root=outside,
                             group_column=group)
    if format != "auto":
        return _load_named(format, root, name, outside, group)
    detected, scanned = _detect(root, outside)
    if detected == "manifest":
        return load_manifest(root / MANIFEST_CSV, name=name, allow_outside_root=outside, group_column=group)
    if scanned is not None:
        _no_group_column(group, root)
        return load_folder(root, detected.split("_")[0], name=name, scanned=scanned, allow_outside_root=outside)
    return _load_named(detected, root, name, outside, group)
