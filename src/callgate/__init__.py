"""callgate: a telephony gateway daemon for 112 emergency call centres."""


def _read_version() -> str:
    """The version setuptools-scm took from the git tag at build time (``_version.py``, written
    by the build, not kept in git); else the installed distribution's; else ``0.0.0+unknown``
    (a source tree run from ``src`` without having been built)."""
    try:
        from callgate._version import version  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as installed

        try:
            return installed("callgate")
        except PackageNotFoundError:
            return "0.0.0+unknown"
    return str(version)


__version__ = _read_version()
