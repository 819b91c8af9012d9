"""soft-sanitize: selective data obfuscation (SOFT) against membership inference, with an audit.

    from sanitize import protect, score, select, audit

The API (api.py) loads on first use, so `import sanitize` and the CLI's `--help` stay fast;
importing changes no environment variable or global setting.
"""
__version__ = "0.1.0"

API = ("audit", "protect", "score", "select")
__all__ = [*API, "__version__"]


def __getattr__(name: str):
    if name in API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'sanitize' has no attribute {name!r}")
