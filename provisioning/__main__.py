from provisioning.cli import entry

entry()
