"""Model code: the CRF aligner, the intent classifier and the summarizer, and what their folders share."""
import json
import os
from dataclasses import asdict

# oneDNN, under torch's CPU kernels, keeps a compiled kernel with its reordered bf16 weights for every input
# shape it has seen, up to 1,024 of them. A long history's changing batch and prompt shapes grew a run with
# every stage on by about 600 MB in its first 4 minutes (benchmarks/RESULTS.md); 128 costs no measured
# speed. oneDNN reads this at its first use, so it is set before any model runs; a value already set is kept.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "128")


def write_card(model_dir: str, config, card: str, config_name: str = "config.json") -> None:
    """A model folder's settings (the dataclass `config` as JSON) and its model card, README.md."""
    with open(os.path.join(model_dir, config_name), "w", encoding="utf-8") as fh:
        json.dump(asdict(config), fh, indent=2)
    with open(os.path.join(model_dir, "README.md"), "w", encoding="utf-8") as fh:
        fh.write(card)
