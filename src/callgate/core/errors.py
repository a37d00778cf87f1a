"""Errors raised by the core, split by who is at fault (as h11 splits local from remote)."""

from __future__ import annotations


class AcdError(Exception):
    """Base class of every error the core raises."""


class AcdConfigError(AcdError, ValueError):
    """The configuration handed to the core is impossible (an operator's mistake)."""


class AcdUsageError(AcdError):
    """The driver broke the core's contract, e.g. announced the same call twice (a daemon bug)."""


class InvalidTransitionError(AcdError):
    """A state change that is not in a transition table was attempted (a bug in the core)."""
