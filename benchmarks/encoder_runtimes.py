"""The intent encoder under torch and under ONNX Runtime, fp32 and int8, on the edits the pipeline sends it.

The default run's intent stage on the last-500 Anarchism slice sends its distinct, not-by-rule edits to
the MiniLM encoder. They are captured from a real run (summaries off), cut into the classifier's own
length-sorted batches of 64, and encoded by each runtime in turn, in this one process, twice each:

- torch fp32, and torch's dynamic int8 (what `label.precision: auto` runs on a CPU without native bf16);
- ONNX Runtime (opset 17 export of the merged encoder), fp32 and `quantize_dynamic` int8 (QInt8 weights).

Prints seconds per pass, the ratio to torch int8, and the largest change of a hidden state against fp32.
Needs `pip install onnx onnxruntime` (not a dependency of revmine).

    python benchmarks/encoder_runtimes.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SLICE = os.path.join(ROOT, "..", "shared", "data", "wikipedia", "enwiki-Anarchism-revs-last-500.xml.bz2")
NAMES = ("input_ids", "attention_mask", "token_type_ids")


def captured_edits() -> list:
    """The batches of edits the run's intent stage gave the encoder."""
    import revmine.models.intent as intent
    from revmine.config import Config
    from revmine.runner.run import run

    seen, encoder_proba = [], intent.IntentClassifier.encoder_proba

    def capture(self, examples, batch_size=64):
        seen.append(list(examples))
        return encoder_proba(self, examples, batch_size)

    intent.IntentClassifier.encoder_proba = capture
    try:
        with tempfile.TemporaryDirectory() as wh:
            run([SLICE], wh, Config.load(None, **{"summarize.enabled": False}))
    finally:
        intent.IntentClassifier.encoder_proba = encoder_proba
    return seen


def main() -> int:
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        print("needs onnxruntime and onnx: pip install onnx onnxruntime")
        return 2
    if not os.path.exists(SLICE):
        print(f"needs {SLICE}")
        return 2
    import torch

    import revmine.models.intent as intent
    from revmine.models.aligner import quantize_int8
    from revmine.runner.label import default_intent_dir

    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    edits = captured_edits()
    clf = intent.IntentClassifier(default_intent_dir(), device=torch.device("cpu"), precision="fp32")
    batches = []
    for group in edits:  # the classifier's own batching: length-sorted, 64 at a time
        order = sorted(range(len(group)), key=lambda i: len(group[i].old) + len(group[i].new))
        for k in range(0, len(order), 64):
            batches.append(intent._inputs([group[i] for i in order[k:k + 64]], clf.tokenizer, clf.config, clf.device)[0])
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    print(f"{sum(map(len, edits))} edits, {tokens:,} tokens, {len(batches)} batches")

    class Hidden(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state

    encoder = clf.model.encoder.eval()
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = os.path.join(tmp, "encoder.onnx"), os.path.join(tmp, "encoder.int8.onnx")
        axes = {n: {0: "batch", 1: "tokens"} for n in NAMES + ("hidden",)}
        torch.onnx.export(Hidden(encoder), tuple(batches[0][n] for n in NAMES), fp32, input_names=list(NAMES),
                          output_names=["hidden"], dynamic_axes=axes, opset_version=17, dynamo=False)
        encoder.eval()  # the exporter leaves the module in training mode: dropout on
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        sessions = {p: ort.InferenceSession(p, options, providers=["CPUExecutionProvider"]) for p in (fp32, int8)}

        def with_torch(model):
            with torch.no_grad():
                return [model(**b).last_hidden_state for b in batches]

        def with_ort(path):
            return [torch.from_numpy(sessions[path].run(None, {n: b[n].numpy() for n in NAMES})[0]) for b in batches]

        torch_int8 = quantize_int8(encoder)
        runtimes = {"torch fp32": lambda: with_torch(encoder), "torch int8 (shipped on AVX2)": lambda: with_torch(torch_int8),
                    "onnxruntime fp32": lambda: with_ort(fp32), "onnxruntime int8": lambda: with_ort(int8)}
        reference = with_torch(encoder)
        best: dict[str, float] = {}
        drift: dict[str, float] = {}
        for _ in range(2):
            for name, go in runtimes.items():
                t0 = time.perf_counter()
                out = go()
                best[name] = min(best.get(name, 1e9), time.perf_counter() - t0)
                drift[name] = max(float((a - r)[b["attention_mask"].bool()].abs().max())
                                  for a, r, b in zip(out, reference, batches))
    base = best["torch int8 (shipped on AVX2)"]
    print(f"\n{'runtime':30} {'seconds':>8} {'tokens/s':>9} {'vs torch int8':>14} {'max |h - h_fp32|':>17}")
    for name, sec in best.items():
        print(f"{name:30} {sec:8.2f} {tokens / sec:9,.0f} {base / sec:13.2f}x {drift[name]:17.3f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())
