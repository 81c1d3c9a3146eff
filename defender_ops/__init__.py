"""Operator commands for Device Defender: quarantine/release a thing, mitigate a finding, list violations.

Runbook: docs/runbook-defender.md. Names come from the deployment outputs file
(``cdk deploy --outputs-file``) so the commands work for any stage.
"""
