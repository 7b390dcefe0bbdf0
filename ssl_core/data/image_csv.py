"""Reader for an image folder described by a CSV (``images.csv``: columns ``image`` or ``path``,
``label``, optional ``fold``): a manifest that must list images."""
from __future__ import annotations

from pathlib import Path

from .manifest import load_manifest
from .records import DatasetIndex, sorted_class_names

IMAGE_CSV = "images.csv"

__all__ = ["IMAGE_CSV", "load_image_csv", "sorted_class_names"]


def load_image_csv(root: Path, csv_name: str = IMAGE_CSV, name: str = "images",
                   group_column: str | None = None) -> DatasetIndex:
    """Index the images listed in ``root/csv_name``; paths are relative to ``root``.

    An empty ``label`` cell marks an unlabelled image (label -1). recording id: the image path
    as written (each image is its own source). fold: the ``fold`` cell as a string, or None.
    Every rule and error of :func:`ssl_core.data.manifest.load_manifest` applies; listing audio
    files here is an error that names ``image_csv``.
    """
    return load_manifest(Path(root).expanduser() / csv_name, name=name, modality="image", format_name="image_csv",
                         group_column=group_column)
