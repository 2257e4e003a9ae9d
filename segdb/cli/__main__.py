"""``python -m segdb.cli``: the `segdb` command."""

import sys

from segdb.cli import main

sys.exit(main())
