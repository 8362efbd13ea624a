"""Préau: the ENT of the public collèges of a French département."""

__version__ = "0.1.0"
