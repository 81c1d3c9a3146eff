"""Policy review of synthesized CDK output that understands AWS IoT policies.

``inventory`` collects every IoT and IAM policy of a cloud assembly (read by ``cloud_assembly``
with intrinsics as readable placeholders), including policies named or embedded in provisioning
template bodies, each with its role (device, claim, core device, quarantine). ``rules`` holds one
module per rule; ``simulate`` checks whether one device can reach another's resources with the
shared evaluator of ``iot_semantics``; ``engine`` runs both; ``reports`` writes Markdown, HTML,
JSON and SARIF; ``suppressions`` applies reasoned exceptions; ``plugin`` runs the same engine on
every synth as a CDK validation plugin. Errors derive from ``errors.ReviewError``.
"""
