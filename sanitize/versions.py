"""Package versions recorded in manifests and reports, for reproducibility."""
from __future__ import annotations

import platform
from importlib import metadata

from . import __version__


def package_versions(*packages: str) -> dict[str, str | None]:
    """soft-sanitize's and Python's versions plus each named package's (None if absent)."""
    out: dict[str, str | None] = {"soft-sanitize": __version__,
                                  "python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out
