"""``python -m orchbench`` runs the command line."""

import sys

from orchbench.cli import main

sys.exit(main())
