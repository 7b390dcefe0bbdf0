"""Declarative YAML search spaces and their loader.

Empty until the search service lands; the config keys a space will search over are the
dotted keys of ``ssl_core.config`` (``python -m ssl_core.train --print-config``).
"""
