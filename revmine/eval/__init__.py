"""Evaluation against gold annotations (arXivEdits, IteraTeR): loaders and metrics, one module per task."""
