"""Small datasets generated on first use: ``digits`` (real images) and ``birdsong`` (procedural
bird song in the BirdCLEF layout)."""
from .paths import EMBEDDED, embedded_path

__all__ = ["EMBEDDED", "embedded_path"]
