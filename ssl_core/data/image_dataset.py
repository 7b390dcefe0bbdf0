"""Images decoded to uint8 tensors; augmentation happens later, batched."""
from __future__ import annotations

import operator
from typing import Sequence

import torch
import torch.utils.data
import torchvision.io

from .records import Item


class ImageDataset(torch.utils.data.Dataset):
    """Returns ``(image [C, H, W] uint8, label)`` decoded with ``torchvision.io.decode_image``.

    Key: an item index, or ``(item_index, sample_seed)`` from :class:`EpochSampler` (the seed is
    unused here: images are returned whole and augmented downstream). Channels are as stored
    (1 for grayscale PNGs, 3 for RGB). ``cache_decoded`` keeps decoded tensors in a per-process
    dict (small datasets such as digits fit easily).
    """

    def __init__(self, items: Sequence[Item], cache_decoded: bool = True) -> None:
        self.items = tuple(items)
        self.cache_decoded = cache_decoded
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int] | int) -> tuple[torch.Tensor, int]:
        index = operator.index(key[0] if isinstance(key, tuple) else key)
        if not 0 <= index < len(self.items):
            raise IndexError(f"item index {index} outside [0, {len(self.items) - 1}]")
        image = self._cache.get(index)
        if image is None:
            data = torchvision.io.read_file(str(self.items[index].path))
            image = torchvision.io.decode_image(data, mode=torchvision.io.ImageReadMode.UNCHANGED)
            if self.cache_decoded:
                self._cache[index] = image
        # Clone so a caller's in-place augmentation cannot corrupt the cached copy.
        return image.clone() if self.cache_decoded else image, self.items[index].label
