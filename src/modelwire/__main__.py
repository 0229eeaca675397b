"""``python -m modelwire``: the same command as the ``modelwire`` script."""

import sys

from .cli import main

sys.exit(main())
