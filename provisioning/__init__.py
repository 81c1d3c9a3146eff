"""The factory-line provisioning CLI: device keys and CSRs, certificates by fleet provisioning.

Runs on factory stations without CDK, Node or jsii (``provisioning/requirements.txt``) and
imports nothing from ``stacks/`` or ``constructs_lib/``; it is configured from the deployment
outputs file, so the same command works against AWS and against the local double.
"""
