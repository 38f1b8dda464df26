"""Training commands whose model cards carry dev scores from revmine.eval (the aligner)."""
