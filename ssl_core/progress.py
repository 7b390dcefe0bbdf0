"""A progress bar for interactive runs (tqdm), silent in batch jobs and on non-zero ranks."""

from __future__ import annotations

import sys

from tqdm import tqdm

from ssl_core.distributed import rank


class Progress:
    def __init__(self, mode: str, total: int, desc: str) -> None:
        show = mode == "on" or (mode == "auto" and sys.stderr.isatty())
        self._bar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True) if show and rank() == 0 else None

    def update(self, **postfix: float) -> None:
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in postfix.items()}, refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
