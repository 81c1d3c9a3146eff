import sys

from policy_review.cli import main

sys.exit(main())
