"""revmine: mine Wikipedia and arXiv revision histories into edit datasets."""
__version__ = "0.1.0"
