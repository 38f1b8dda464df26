"""`python -m revmine.cli ...`, as the `revmine` command."""
import sys

from revmine.cli import main

sys.exit(main())
