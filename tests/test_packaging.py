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
