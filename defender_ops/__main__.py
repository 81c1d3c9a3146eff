import sys

from defender_ops.cli import run

sys.exit(run(sys.argv[1:]))
