"""Every image of a dataset is checked from its header before training: one size, one mode.

Batches stack images as they are stored (``ImageDataset`` decodes with
``ImageReadMode.UNCHANGED``), so 16x16 next to 16x24 fails the first batch with "stack expects
each tensor to be equal size", a 16-bit PNG arrives as ``torch.uint16``, and RGBA or CMYK
would train as four channels (a palette PNG as one channel of palette indices). PIL's
``Image.open`` reads only the header (the pixels are decoded on ``load()``), so checking
every file costs tens of microseconds each: 100,000 images in a few seconds, before Ray
starts. A dataset whose images differ is refused with the first offending files and the
conversion that fixes it; none is converted behind the user's back.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

from PIL import Image

from .media import list_some

# What a model can take as stored: 8-bit grayscale (1 channel) or 8-bit RGB (3 channels).
MODES = {"L": "8-bit grayscale", "RGB": "8-bit RGB"}
CONVERT = ("convert them, e.g. with PIL: Image.open(p).convert('RGB').resize((W, H)).save(p) "
           "(or convert('L') for grayscale)")


def _header(path: Path) -> tuple[tuple[int, int], str] | str:
    """``((width, height), mode)`` from the header, or why it cannot be read."""
    try:
        with Image.open(path) as image:
            return image.size, image.mode
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        return f"{type(err).__name__}: {err}"


def check_image_headers(paths: Sequence[Path], where: str) -> None:
    """Raise ValueError unless every image in ``paths`` has one size and one mode of MODES.

    Checked in that order, each listing up to five files: modes a model cannot take as stored,
    then files whose size or mode differs from the most common. A header that cannot be read
    is not this check's business: the decoder reports that file.
    """
    # A file whose header cannot be read is left to the decoder, like an unreadable audio file
    # (media.py: an index lists empty or truncated files like any other).
    headers = {path: header for path in paths if not isinstance(header := _header(path), str)}
    other_modes = [f"{path} ({mode})" for path, (_, mode) in headers.items() if mode not in MODES]  # type: ignore[misc]
    if other_modes:
        raise ValueError(f"{where}: {len(other_modes)} image(s) are neither {' nor '.join(MODES.values())}: "
                         f"{list_some(other_modes)}; a model takes 1 or 3 channels of 8 bits, so "
                         f"{CONVERT}")
    counts = Counter(headers.values())
    if len(counts) > 1:
        (size, mode), common = counts.most_common(1)[0]
        odd = [f"{path} ({w}x{h} {m})" for path, ((w, h), m) in headers.items()  # type: ignore[misc]
               if (((w, h), m)) != (size, mode)]
        raise ValueError(
            f"{where}: images differ in size or mode: {common} of {len(headers)} are {size[0]}x{size[1]} {mode}, "
            f"but {len(odd)} are not: {list_some(odd)}. Batches stack images as stored, so all must match: "
            f"{CONVERT}")
