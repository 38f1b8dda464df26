import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "samplewiki-history.xml"
SHARED = pathlib.Path(os.environ.get("REVMINE_SHARED_DATA", ROOT.parent / "shared" / "data"))
FULL_HISTORY = "enwiki-Anarchism-history-2001-2010.xml.lzma"  # 1.05 GB: read whole only by the tests that need it


def wikipedia_dumps(full_history: bool = True) -> list[pathlib.Path]:
    """The shared Wikipedia dumps (README files aside), sorted; none when the shared data is absent."""
    folder = SHARED / "wikipedia"
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".md")
                   and (full_history or p.name != FULL_HISTORY)), key=str)


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """The real dumps and gold data beside the repo (never copied into it)."""
    if not (SHARED / "wikipedia").is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set REVMINE_SHARED_DATA); these tests need the real dumps")
    return SHARED


@pytest.fixture(scope="session")
def sample_dump() -> pathlib.Path:
    return SAMPLE


# REVMINE_TEST_MEMORY=1: after the run, the tests that raised the peak memory of this process or of a child.
if os.environ.get("REVMINE_TEST_MEMORY"):
    import resource

    _peaks: list = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        before = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        yield
        after = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        if after != before:
            _peaks.append((item.nodeid, after[0] // 1024, after[1] // 1024))

    def pytest_terminal_summary(terminalreporter):
        terminalreporter.write_line("tests that raised the peak RSS (MB: this process, largest child):")
        for nodeid, own, child in _peaks:
            terminalreporter.write_line(f"  {own:>6,} {child:>6,}  {nodeid}")


@pytest.fixture(scope="module", autouse=True)
def _shelf_emptied_after_each_module():
    """The runs of one test module share the models they load (revmine/runner/shelf.py); the next module
    starts without them, so idle models never add to the memory of another module's model training."""
    yield
    from revmine.runner import shelf

    shelf.clear()
