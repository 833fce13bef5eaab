"""``python -m lava_diffpc``: see :mod:`lava_diffpc.cli`."""

import sys

from lava_diffpc.cli import main

sys.exit(main())
