"""``python -m local``: the local mode (see local/demo.py)."""

import sys

from .demo import main

sys.exit(main())
