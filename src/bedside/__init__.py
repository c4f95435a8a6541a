"""bedside: small clinical language models on your own hardware."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bedside")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+source"
