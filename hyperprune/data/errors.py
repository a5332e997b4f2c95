"""The one error the data package raises for a missing, unreadable or unusable corpus."""


class DataError(Exception):
    """A corpus cannot be loaded. The message names the path and what was expected there."""
