"""The package version, kept in one file that hatchling reads at build time."""

__version__ = "0.1.0"
