import sys

from stream_filter.cli.main import main

sys.exit(main())
