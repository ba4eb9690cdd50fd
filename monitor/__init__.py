"""liqmon: watches crypto-derivatives venues for the mechanics of a leverage flush."""

__version__ = "0.1.0"

__all__ = ["__version__"]
