"""Reader for a folder per class, ``root/<class>/<file>``, for audio or images.

Layout rules:

- Each folder directly under ``root`` is a class; its files at any depth belong to it
  (``root/<class>/<session>/<file>`` works too).
- Files directly under ``root``, or anywhere under ``root/_unlabelled/``, are unlabelled
  (label -1): SSL trains on them, evaluation ignores them.
- Split folders: when every folder under ``root`` is named train, val, valid, validation or test
  (the layout of clothing-dataset-small and of ImageNet), those are folds, not classes:
  ``root/<split>/<class>/<file>`` gets ``fold=<split>``, to be mapped by ``data.fold_map``
  (``root/_unlabelled/`` and ``root/<split>/_unlabelled/`` still hold unlabelled files).
  Treating them as classes would silently train a "train vs test" classifier.
- Names starting with ``.`` are skipped (``.DS_Store``, macOS ``._x.jpg`` copies,
  ``.ipynb_checkpoints``), and so are files of another modality or with an unknown extension
  (``media.py``): a README or a cover image does not break an audio folder.

recording id: the file's path relative to ``root`` with ``/`` separators.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from .media import EXTENSIONS, list_some, modality_of
from .records import MODALITIES, DatasetIndex, Item, sorted_class_names

UNLABELLED_DIR = "_unlabelled"
SPLIT_DIRS = ("train", "val", "valid", "validation", "test")


def scan_folder(root: Path) -> dict[str, list[str]]:
    """Usable files under ``root`` by modality: ``{"audio": [...], "image": [...]}``.

    Paths are relative to ``root``, POSIX, sorted. Symlinked folders are followed once each (a
    link back to a parent would otherwise loop forever).
    """
    root = Path(root)
    found: dict[str, list[str]] = {modality: [] for modality in MODALITIES}
    seen: set[str] = set()
    for folder, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        relative_folder = PurePosixPath(Path(folder).relative_to(root).as_posix())
        for filename in filenames:
            modality = modality_of(filename)
            if modality is not None and not filename.startswith("."):
                found[modality].append(str(relative_folder / filename))
    return {modality: sorted(paths) for modality, paths in found.items()}


def folder_modality(root: Path, scanned: dict[str, list[str]]) -> str | None:
    """The modality of a scanned folder; None if it holds no usable file.

    Raises ValueError when it holds both audio and images, naming one of each.
    """
    audio, image = scanned["audio"], scanned["image"]
    if audio and image:
        raise ValueError(
            f"{root}: holds both audio files ({len(audio)}, e.g. {audio[0]}) and image files "
            f"({len(image)}, e.g. {image[0]}); set data.format=audio_folder or image_folder to index "
            "only one kind (the other is then ignored), or move one kind elsewhere"
        )
    return "audio" if audio else "image" if image else None


def _is_split_layout(relative_paths: list[str]) -> bool:
    top_folders = {PurePosixPath(p).parts[0] for p in relative_paths if len(PurePosixPath(p).parts) > 1}
    top_folders.discard(UNLABELLED_DIR)
    return bool(top_folders) and all(folder.lower() in SPLIT_DIRS for folder in top_folders)


def load_folder(
    root: Path, modality: str, name: str = "folder", scanned: dict[str, list[str]] | None = None
) -> DatasetIndex:
    """Index ``root/<class>/<file>`` (see the module docstring) for ``modality``.

    ``scanned``: a :func:`scan_folder` result to reuse. Raises ValueError naming what the format
    expects when ``root`` holds no file of ``modality``.
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality {modality!r} is not one of {MODALITIES}")
    root = Path(root).expanduser().resolve()
    scanned = scan_folder(root) if scanned is None else scanned
    relative_paths = scanned[modality]
    if not relative_paths:
        other = "image" if modality == "audio" else "audio"
        hint = (f" It holds {len(scanned[other])} {other} file(s) (e.g. {list_some(scanned[other], 2)}): "
                f"set data.format={other}_folder." if scanned[other] else "")
        raise ValueError(
            f"{root}: no usable {modality} files; format {modality}_folder expects "
            f"{root}/<class>/<file> with an extension in {EXTENSIONS[modality]} (files directly under the "
            f"folder or under {UNLABELLED_DIR}/ are unlabelled).{hint}"
        )
    split_layout = _is_split_layout(relative_paths)
    entries = []  # (relative path, class name or None, fold)
    for relative in relative_paths:
        parts = PurePosixPath(relative).parts
        fold = None
        if split_layout and len(parts) > 1 and parts[0] != UNLABELLED_DIR:
            fold, parts = parts[0], parts[1:]
        labelled = len(parts) > 1 and parts[0] != UNLABELLED_DIR
        entries.append((relative, parts[0] if labelled else None, fold))
    class_names = sorted_class_names({label for _, label, _ in entries if label is not None})
    class_of = {label: i for i, label in enumerate(class_names)}
    items = tuple(
        Item(path=root / relative, label=-1 if label is None else class_of[label], recording=relative, fold=fold)
        for relative, label, fold in entries
    )
    return DatasetIndex(name=name, modality=modality, root=root, items=items, class_names=class_names)
