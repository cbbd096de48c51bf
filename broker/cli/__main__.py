"""`python -m peakend.broker.cli`: the same as the `peakend` command."""

import sys

from peakend.broker.cli import main

sys.exit(main())
