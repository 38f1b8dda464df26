"""The package's imports run one way (.importlinter): shells > runs > training > evaluation > warehouse >
models > stage functions > config > records, and stage functions never import Beam, luigi or torch."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    # In a child process: import-linter configures logging with dictConfig, which disables every logger
    # that exists at that moment (revmine's too) for the rest of the process.
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename=sys.argv[1]))"
    result = subprocess.run([sys.executable, "-c", code, str(ROOT / ".importlinter")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_imports_evaluation_but_the_cli_and_training():
    import grimp

    graph = grimp.build_graph("revmine")
    importers = {m for m in graph.find_modules_that_directly_import("revmine.eval")}
    for module in graph.find_children("revmine.eval"):
        importers |= graph.find_modules_that_directly_import(module)
    outside = {m for m in importers if not m.startswith(("revmine.eval", "revmine.cli", "revmine.training"))}
    assert not outside


def test_no_import_cycles_between_modules():
    """Lazy imports inside functions count: grimp reads every import statement."""
    import grimp

    graph = grimp.build_graph("revmine")
    modules = sorted(graph.modules)
    cycles = [(a, b) for i, a in enumerate(modules) for b in modules[i + 1:]
              if graph.chain_exists(a, b) and graph.chain_exists(b, a)]
    assert not cycles
