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

from .containment import OPT_IN, is_inside
from .media import EXTENSIONS, list_some, modality_of
from .records import MODALITIES, DatasetIndex, Item, sorted_class_names

UNLABELLED_DIR = "_unlabelled"
SPLIT_DIRS = ("train", "val", "valid", "validation", "test")


def _plainly_reachable(real_target: str, real_root: str) -> bool:
    """Whether the walk reaches ``real_target`` without a link: no hidden folder and no
    symlink on its way down from the root (the root itself counts: a link to it is a loop)."""
    current = real_root
    for part in PurePosixPath(Path(os.path.relpath(real_target, real_root)).as_posix()).parts:
        if part == ".":
            continue
        current = os.path.join(current, part)
        if part.startswith(".") or os.path.islink(current):
            return False
    return True


def _link_problem(link: str, real_root: str, allow_outside_root: bool) -> str | None:
    """Why the symlink ``link`` must not be followed, or None to follow it."""
    target = os.path.realpath(link)
    if not os.path.exists(target):
        return f"{target} does not exist"
    if not is_inside(target, real_root):
        return None if allow_outside_root else f"{target} is outside the dataset folder"
    if _plainly_reachable(target, real_root):
        shown = os.path.relpath(target, real_root)
        return f"{'the dataset folder itself' if shown == '.' else shown} is indexed already"
    return None


def scan_folder(root: Path, allow_outside_root: bool = False) -> dict[str, list[str]]:
    """Usable files under ``root`` by modality: ``{"audio": [...], "image": [...]}``.

    Paths are relative to ``root``, POSIX, sorted. A symlink (to a folder or a file) is
    followed only when its target is inside ``root`` (or ``allow_outside_root``) and is not
    indexed already: ``alpha/zz -> ../beta`` would relabel beta's files as alpha and
    ``alpha/u -> /usr`` would index /usr. Such links raise ValueError listing each with its
    target; a folder reached twice through links is walked once (a loop would never end).
    """
    root = Path(root)
    real_root = os.path.realpath(root)
    found: dict[str, list[str]] = {modality: [] for modality in MODALITIES}
    refused: list[str] = []
    seen: set[str] = set()
    followed: dict[str, str] = {}  # real target -> the link that reached it first
    pending = [(str(root), PurePosixPath("."))]  # (folder on disk, its path relative to root)
    while pending:
        start, prefix = pending.pop()
        for folder, dirnames, filenames in os.walk(start):  # links are not followed by os.walk here
            real = os.path.realpath(folder)
            if real in seen:
                dirnames[:] = []
                continue
            seen.add(real)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            relative_folder = prefix / PurePosixPath(Path(folder).relative_to(start).as_posix())
            for name in [*dirnames, *filenames]:
                path, is_folder = os.path.join(folder, name), name in dirnames
                modality = None if is_folder or name.startswith(".") else modality_of(name)
                if not os.path.islink(path):
                    if modality is not None:
                        found[modality].append(str(relative_folder / name))
                    continue  # a plain folder: os.walk goes on into it
                if not is_folder and modality is None:
                    continue  # a link to a README or a hidden file: ignored like the file would be
                problem = _link_problem(path, real_root, allow_outside_root)
                target = os.path.realpath(path)
                if problem is None and target in followed:
                    problem = f"{followed[target]} reaches it already"
                followed.setdefault(target, str(relative_folder / name))
                if problem is not None:
                    refused.append(f"{relative_folder / name} -> {os.readlink(path)} ({problem})")
                elif is_folder:
                    pending.append((path, relative_folder / name))
                else:
                    found[modality].append(str(relative_folder / name))  # type: ignore[index]
    if refused:
        raise ValueError(
            f"{root}: {len(refused)} symbolic link(s) cannot be followed: {list_some(sorted(refused))}. A link is "
            f"followed only when its target is inside the dataset folder and not indexed already (another class folder "
            f"would lend its files to this one). Remove the link or copy the files in its place; for targets "
            f"outside the folder, set {OPT_IN} if they are meant to be read")
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
    root: Path, modality: str, name: str = "folder", scanned: dict[str, list[str]] | None = None,
    allow_outside_root: bool = False,
) -> DatasetIndex:
    """Index ``root/<class>/<file>`` (see the module docstring) for ``modality``.

    ``scanned``: a :func:`scan_folder` result to reuse. Raises ValueError naming what the format
    expects when ``root`` holds no file of ``modality``.
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality {modality!r} is not one of {MODALITIES}")
    root = Path(root).expanduser().resolve()
    scanned = scan_folder(root, allow_outside_root) if scanned is None else scanned
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
