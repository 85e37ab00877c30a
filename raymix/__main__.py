"""``python -m raymix COMMAND ...``: the ``raymix`` command line, for Ray jobs and for
environments whose scripts folder is not on PATH."""

import sys

from raymix.cli import main

if __name__ == "__main__":
    sys.exit(main())
