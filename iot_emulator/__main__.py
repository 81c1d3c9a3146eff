import sys

from iot_emulator.cli import main

sys.exit(main())
