"""Declarative YAML search spaces and their loader.

``load_space("simclr_temp")`` (or a path to your own YAML) gives a validated
``SearchSpace``; ``sample_params`` draws one trial's params; ``resolve_config`` turns them
into an ssl_core ``Config``. The keys a space searches are the dotted keys of
``ssl_core.config`` (``python -m ssl_core.train --print-config``). No Ray here:
``trainables/`` converts ``Distribution`` objects to Tune / Optuna ones.
"""

from search_spaces.distributions import KINDS, Distribution, parse_distribution
from search_spaces.errors import SearchSpaceError
from search_spaces.loader import grace_for_epochs, list_spaces, load_space, shipped_names, with_budget
from search_spaces.resolve import probe_points, resolve_config, sample_params, validate_space
from search_spaces.space import METRICS, SearchSpace

__all__ = ["KINDS", "METRICS", "Distribution", "SearchSpace", "SearchSpaceError", "list_spaces", "load_space",
           "parse_distribution", "probe_points", "resolve_config", "sample_params", "shipped_names",
           "validate_space", "with_budget", "grace_for_epochs"]
