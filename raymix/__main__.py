import sys

from raymix.cli.commands import main

sys.exit(main())
