"""`python -m pdlogkit`: the same as the `pdlogkit` command."""

import sys

from .cli import main

sys.exit(main())
