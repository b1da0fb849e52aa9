"""The package's version and research-use notice (the bottom layer: imported by everything that prints)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mastoprog")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

RESEARCH_USE_NOTICE = (
    "Research software, not a medical device: estimates are for research and discussion, "
    "not for individual treatment decisions."
)

__all__ = ["RESEARCH_USE_NOTICE", "__version__"]
