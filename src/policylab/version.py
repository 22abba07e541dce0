"""The installed distribution's version, read from its metadata (a leaf module: any stage may import it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("policylab")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
