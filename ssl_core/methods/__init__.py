"""SSL methods, one file each, registered by name in ``METHODS``.

A method with config fields of its own declares them, with their defaults and range
checks, in a torch-free ``<method>_options`` module beside its file; ``METHOD_OPTIONS``
lists them and ``ssl_core.config`` builds the flat ``method:`` section from that list, so
the YAML keys stay ``method.dino_out_dim`` and so on. Method modules never import the
config: they read the sections they are given by attribute.

The method classes need torch, so they load on the first use of ``METHODS``, ``Method``,
``build_method`` or ``register_method``: importing the config (as ``launch.py`` does to
refuse bad input before any expensive work) does not import torch. ``build_method(name,
...)`` builds one and an unknown name raises with the list of valid names.

Adding a method: its file (plus its ``<method>_options`` module if it has fields), and its
name in the two registration lines below.
"""

from __future__ import annotations

from typing import Any

from ssl_core.methods.barlow_twins_options import BarlowTwinsOptions
from ssl_core.methods.dino_options import DinoOptions
from ssl_core.methods.moco_options import MoCoOptions
from ssl_core.methods.options import SharedOptions
from ssl_core.methods.simsiam_options import SimSiamOptions
from ssl_core.methods.vicreg_options import VICRegOptions

#: Registration line 1: the ``method:`` fields, shared ones first; this order is the order
#: of the keys in a config file and in the "valid keys" list of an unknown-key error.
METHOD_OPTIONS: tuple[type, ...] = (SharedOptions, MoCoOptions, DinoOptions, BarlowTwinsOptions, VICRegOptions,
                                    SimSiamOptions)

_LAZY = ("METHODS", "Method", "build_method", "register_method")

__all__ = ["METHOD_OPTIONS", *_LAZY]


def __getattr__(name: str) -> Any:
    """Load and register every method class on first use of one of ``_LAZY`` (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Registration line 2: importing a method module registers it; in the order listed to users.
    from ssl_core.methods import (simclr, supcon, byol, simsiam, moco, dino, barlow_twins,  # noqa: F401
                                  vicreg, supervised)
    from ssl_core.methods.base import Method
    from ssl_core.methods.registry import METHODS, build_method, register_method

    globals().update(METHODS=METHODS, Method=Method, build_method=build_method, register_method=register_method)
    return globals()[name]
