"""What every command shares: the stderr console, logging, and where the shared data lives."""
from __future__ import annotations

import argparse
import logging
import os
import warnings

from rich.console import Console

from revmine.schemas.names import is_url

# No emoji codes: what is printed holds paths and stored names, and `:x:` in a warehouse path came out as an
# emoji in the query command a run suggests (markup is escaped where data is printed).
console = Console(stderr=True, emoji=False)


def setup_logging(verbose: bool) -> None:
    from revmine.cli.progress import LiveProgressHandler

    logging.basicConfig(level=logging.INFO, format="%(message)s", datefmt="%H:%M:%S",
                        handlers=[LiveProgressHandler(console, show_path=False, rich_tracebacks=False)], force=True)
    # Beam is chatty at INFO (runner choice, staging); keep its warnings and our progress lines.
    for name in ("apache_beam", "root"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("revmine").setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        # Quiet by default: no weight-loading bars and no deprecation notices from the model libraries,
        # which say nothing about the run. -v shows them.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        for category in (FutureWarning, DeprecationWarning, UserWarning):
            warnings.filterwarnings("ignore", category=category, module=r"(transformers|torch|peft|accelerate)\b")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"revmine\.models\b")
    # Beam warns at import that optional GCP clients are missing; irrelevant unless you use GCP.
    logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())


def at_least(low: int):
    """An argparse type: a whole number >= `low`, so that a bad count is one usage line, not a traceback."""
    def whole_number(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {n}")
        return n
    return whole_number


def local_path(text: str) -> str:
    """An argparse type: a path of this machine. These outputs are written with the local file system, so
    a URL (gs://bucket/x) would become a folder named after it (./gs:/bucket/x)."""
    if is_url(text):
        raise argparse.ArgumentTypeError(f"{text} is a URL: this is written to a local folder or file; write it to "
                                         "one and copy it up")
    return text


def numbers_at_least_1(text: str) -> list[int]:
    """An argparse type: comma-separated whole numbers >= 1 ("1,3")."""
    parse = at_least(1)
    return sorted({parse(part.strip()) for part in text.split(",")})


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    x = _number(text)
    if not 0 < x < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), not {text}")
    return x


def non_negative(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    x = _number(text)
    if not 0 <= x < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number at least 0, not {text}")
    return x


def shared_data() -> str:
    """The real dumps and gold data beside the checkout (../shared/data), or $REVMINE_SHARED_DATA."""
    return os.environ.get("REVMINE_SHARED_DATA", os.path.join("..", "shared", "data"))


def live_progress():
    """The handler drawing live progress bars when stderr is a terminal, else None."""
    from revmine.cli.progress import LiveProgressHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, LiveProgressHandler) and handler.live:
            return handler
    return None
