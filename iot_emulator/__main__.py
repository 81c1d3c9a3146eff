from iot_emulator.cli import entry

entry()
