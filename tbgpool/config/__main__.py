"""``python -m tbgpool.config FILE``: the same check as ``tbgpool-check-config FILE``."""

import sys

from tbgpool.config.cli import main

sys.exit(main())
