"""`python -m user_state ...`"""

import sys

from user_state.cli import main

sys.exit(main())
