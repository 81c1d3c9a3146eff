from defender_ops.cli import entry

entry()
