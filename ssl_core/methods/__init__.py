"""SSL methods, one file each, registered by name in ``METHODS``.

Importing this package registers every method; ``build_method(name, ...)`` builds one
and an unknown name raises with the list of valid names.
"""

from ssl_core.methods.base import Method
from ssl_core.methods.registry import METHODS, build_method, register_method

# Imported for their registration side effect, in the order they are listed to users.
from ssl_core.methods import simclr, supcon, byol, simsiam, moco, dino, barlow_twins, vicreg, supervised  # noqa: E402,F401

__all__ = ["METHODS", "Method", "build_method", "register_method"]
