"""`python -m ranker serve ...`: the ranker gRPC service."""

import sys

from ranker.service.cli import main

sys.exit(main())
