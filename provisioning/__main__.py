import sys

from provisioning.cli import run

sys.exit(run(sys.argv[1:]))
