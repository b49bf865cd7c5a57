"""`python -m simulator`: the `traffic-sim` command."""

import sys

from simulator.cli import main

sys.exit(main())
