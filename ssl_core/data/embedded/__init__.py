"""Small datasets generated on first use: ``digits`` (real images) and ``birdsong`` (procedural
bird song in the BirdCLEF layout), plus larger draws of birdsong (``birdsong-x4`` etc.)."""
from .paths import BIRDSONG_SCALES, EMBEDDED, EMBEDDED_NAMES, embedded_generator, embedded_path

__all__ = ["BIRDSONG_SCALES", "EMBEDDED", "EMBEDDED_NAMES", "embedded_generator", "embedded_path"]
