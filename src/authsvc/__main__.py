"""`python -m authsvc`."""

import sys

from authsvc.cli import main

sys.exit(main())
