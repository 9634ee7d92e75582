"""``python -m crowdsafe.cli``: the same as the ``crowdsafe`` command."""

import sys

from crowdsafe.cli import main

sys.exit(main())
