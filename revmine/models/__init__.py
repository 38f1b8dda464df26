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


def load_adapter(model, folder: str):
    """`model` with the peft adapter saved in `folder`. peft only warns when the file lacks some of the
    adapter's weights, and a LoRA matrix left at its initial value changes the model silently (B starts at
    zero: the adapter does nothing); here that is an error that names them."""
    import warnings

    from peft import PeftModel

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Found missing adapter keys", category=UserWarning)
        try:
            return PeftModel.from_pretrained(model, folder)
        except UserWarning as exc:
            raise ValueError(f"the adapter in {folder} is incomplete: {exc}") from None


def check_loaded(got, folder: str, file: str, elsewhere: str = "") -> None:
    """After `load_state_dict(..., strict=False)`: every weight the model expects from `file` was there
    (those under `elsewhere` come from another file) and the file held nothing the model lacks."""
    lost = [k for k in got.missing_keys if not (elsewhere and k.startswith(elsewhere))]
    if lost or got.unexpected_keys:
        raise ValueError(f"{os.path.join(folder, file)} does not fit its model: missing {lost}, "
                         f"unexpected {list(got.unexpected_keys)}")
