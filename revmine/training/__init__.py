"""Training: each model family's training loop, model folder and card (aligner, intents, summarizer).
Models themselves (inference) live in revmine.models; training may use revmine.eval's gold loaders."""
