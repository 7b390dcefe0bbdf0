"""``ConfigError``, in a module that imports nothing.

``ssl_core.config`` re-exports it (catch ``ssl_core.config.ConfigError`` as before). It
lives apart so that ``ssl_core.config_checks``, which ``Config.validate`` imports, can
raise it without importing ``ssl_core.config``: that would be an import cycle.
"""


class ConfigError(ValueError):
    """A config key or value is invalid; the message names the field and the fix."""
