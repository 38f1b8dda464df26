"""ROUGE of edit summaries against the editors' own comments, with two baselines on the same rows.

- most frequent: the most frequent (cleaned) comment of the training split, for every pair;
- template: an extractive "changed X to Y" / "added: <first words>" / "removed: <first words>" rule
  (pipeline/summarize.template_summary).
Scores are ROUGE-1/2/L F1 (Google's rouge-score, Porter stemming), averaged over pairs.
"""
from __future__ import annotations

import random
from typing import Optional, Sequence

from revmine.models.metrics import evaluate, rouge  # noqa: F401 (the scores `eval summaries` prints)


def sample_markdown(examples: Sequence[dict], n: int = 20, seed: int = 0, title: Optional[str] = None) -> str:
    """n random examples side by side, for a reader to judge."""
    pick = random.Random(seed).sample(list(examples), min(n, len(examples)))
    lines = [f"# {title or 'Edit summaries: 20 random dev examples'}", "",
             "Each block: the diff as the model sees it, the editor's own comment, and revmine's summary.", ""]
    for i, e in enumerate(pick, 1):
        diff = e["input"].replace("<", "&lt;").replace(">", "&gt;")
        lines += [f"## {i}. {e.get('title') or ''} (`{e['pair_id']}`)", "", f"> {diff}", "",
                  f"- **human:** {e['human']}", f"- **revmine:** {e['ours']}", ""]
    return "\n".join(lines)
