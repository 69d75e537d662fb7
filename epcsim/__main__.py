import sys

from epcsim.cli import main

sys.exit(main())
