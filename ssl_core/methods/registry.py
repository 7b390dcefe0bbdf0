"""The method registry: names -> Method classes. Duplicates are refused; misses list names.

Read it as ``ssl_core.methods.METHODS``: that import registers every method first, while
this module's ``METHODS`` holds only the method modules imported so far.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from torch import nn

from ssl_core.methods.base import Method

METHODS: dict[str, type[Method]] = {}

M = TypeVar("M", bound=type[Method])


def register_method(name: str) -> Callable[[M], M]:
    def decorator(cls: M) -> M:
        if name in METHODS:
            raise ValueError(f"method {name!r} is already registered by {METHODS[name].__name__}")
        METHODS[name] = cls
        cls.method_name = name
        return cls

    return decorator


def build_method(name: str, backbone: nn.Module, feature_dim: int, model_cfg: Any,
                 method_cfg: Any, num_classes: int) -> Method:
    """Instantiate a registered method; an unknown name raises with the valid names.

    The config sections are taken by attribute (``Method`` says why).
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}")
    return METHODS[name](backbone, feature_dim, model_cfg, method_cfg, num_classes)
