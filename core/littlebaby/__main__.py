import sys

from littlebaby.cli.main import main

sys.exit(main())
