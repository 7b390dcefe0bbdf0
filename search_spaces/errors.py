"""The one error a search space raises for bad user input."""

from __future__ import annotations


class SearchSpaceError(ValueError):
    """A search-space file is malformed; the message names the file, the key and the fix."""
