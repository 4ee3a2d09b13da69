"""``python -m snnfunc`` runs the command line (:func:`snnfunc.app.cli.main`)."""

import sys

from snnfunc.app.cli import main

sys.exit(main())
