"""Errors users can act on: the CLI prints them as one line and exits 2."""


class AutotinyError(Exception):
    """Base class: the message is shown to the user as is."""


class ConfigError(AutotinyError):
    """A bad config key, value, override or search-space file."""


class DataError(AutotinyError):
    """Missing, malformed or unreachable data."""


class ModelError(AutotinyError):
    """A model the toolchain cannot handle (unsupported op, bad file)."""
