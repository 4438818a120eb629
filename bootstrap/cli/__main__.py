"""`python -m qrun.bootstrap.cli`: the `qrun` command."""

import sys

from .main import main

sys.exit(main())
