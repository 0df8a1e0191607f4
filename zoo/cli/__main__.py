"""``python -m zoo.cli ARGS``: the ``zoo`` command."""

import sys

from zoo.cli import main

sys.exit(main())
