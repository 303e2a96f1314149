"""`python -m http_facade serve`."""

import sys

from http_facade.cli import main

sys.exit(main())
