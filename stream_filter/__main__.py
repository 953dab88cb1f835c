import sys

from stream_filter.cli import main

sys.exit(main())
