import sys

from kolokol.cli import main

sys.exit(main())
