import sys

from littlebaby.cli.commands import main

sys.exit(main())
