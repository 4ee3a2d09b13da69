"""``python -m snnfunc`` runs the command line (:func:`snnfunc.cli.main`)."""

import sys

from snnfunc.cli import main

sys.exit(main())
