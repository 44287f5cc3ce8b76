"""Speaker-independent speech emotion recognition with classical features."""

__version__ = "0.1.0"
__all__ = ["__version__"]
