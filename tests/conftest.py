import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "samplewiki-history.xml"
SHARED = pathlib.Path(os.environ.get("REVMINE_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """The real dumps and gold data beside the repo (never copied into it)."""
    if not (SHARED / "wikipedia").is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set REVMINE_SHARED_DATA); these tests need the real dumps")
    return SHARED


@pytest.fixture(scope="session")
def sample_dump() -> pathlib.Path:
    return SAMPLE
