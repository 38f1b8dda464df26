"""The built package (what Beam workers install with --setup_file) holds what the checkout holds."""
def test_built_package_ships_every_model_file(tmp_path):
    """Beam workers install revmine from the built package (--setup_file), so a model file that the
    package leaves out (an adapter in a subfolder, say) works here and fails on Dataflow."""
    import pathlib
    import subprocess
    import sys
    import zipfile

    import shutil

    root = pathlib.Path(__file__).resolve().parents[1]
    # A fresh copy: setuptools reuses ./build, which could hold files that the package spec leaves out.
    src = tmp_path / "src"
    shutil.copytree(root, src, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "data", "warehouse*",
                                                             "*.egg-info", "__pycache__", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("revmine-*.whl"))
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if "/weights/" in n}
    weights = root / "revmine" / "models" / "weights"
    on_disk = {str(p.relative_to(root)) for p in weights.rglob("*") if p.is_file()}
    assert on_disk and on_disk == shipped, on_disk ^ shipped


def test_models_bound_onednn_kernel_cache_unless_the_user_did():
    """oneDNN's default cache of 1,024 kernels, each with reordered weights, grew a long run's memory by
    hundreds of MB; the models set a bound before anything runs, and keep one the user set."""
    import os
    import subprocess
    import sys

    code = "import os, revmine.models; print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])"
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert got.stdout.strip() == "128"
    mine = subprocess.run([sys.executable, "-c", code], env={**env, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "7"},
                          capture_output=True, text=True, check=True)
    assert mine.stdout.strip() == "7"


def test_every_requirement_installs_on_the_oldest_python_the_package_allows():
    """setup.py allowed Python 3.10, and the README said so, but duckdb 2, numpy 2.4, transformers 5,
    matplotlib and scikit-learn require 3.11: on 3.10 `pip install -e .` failed on duckdb>=2.0. The oldest
    Python revmine declares must be one every requirement's installed release declares too."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    ours = metadata.metadata("revmine")
    oldest = min((s.version for s in SpecifierSet(ours["Requires-Python"]) if s.operator == ">="),
                 key=lambda v: tuple(map(int, v.split("."))))
    refused = {}
    for line in ours.get_all("Requires-Dist") or []:
        req = Requirement(line)  # the dev extra's too: the README's test command needs them
        try:
            needs = metadata.metadata(req.name).get("Requires-Python")
        except metadata.PackageNotFoundError:
            continue
        if needs and not SpecifierSet(needs).contains(oldest, prereleases=True):
            refused[req.name] = needs
    assert not refused, f"Requires-Python >={oldest}, but these need more: {refused}"


def test_floors_of_transformers_optional_dependencies_are_the_ones_it_checks():
    """transformers loads the SmolLM2 GGUF only with gguf and accelerate at or above its own minimums, and
    treats an older one as absent. revmine declared accelerate>=0.30: an environment holding accelerate 0.30
    satisfied pip and then could not convert the summarizer's weights."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.version import Version
    from transformers.utils import import_utils

    floors = {}
    for line in metadata.metadata("revmine").get_all("Requires-Dist") or []:
        req = Requirement(line)
        floors[req.name] = max((Version(s.version) for s in req.specifier if s.operator == ">="), default=None)
    for name, needed in (("accelerate", import_utils.ACCELERATE_MIN_VERSION), ("gguf", import_utils.GGUF_MIN_VERSION)):
        assert floors[name] is not None and floors[name] >= Version(needed), (name, floors[name], needed)
