"""Model code: the CRF aligner, the intent classifier and the summarizer, and what their folders share."""
import json
import os
from dataclasses import asdict


def write_card(model_dir: str, config, card: str, config_name: str = "config.json") -> None:
    """A model folder's settings (the dataclass `config` as JSON) and its model card, README.md."""
    with open(os.path.join(model_dir, config_name), "w", encoding="utf-8") as fh:
        json.dump(asdict(config), fh, indent=2)
    with open(os.path.join(model_dir, "README.md"), "w", encoding="utf-8") as fh:
        fh.write(card)
