"""Policy review of synthesized CDK output that understands AWS IoT policies (work in progress).

Built so far: the inventory of every IoT and IAM policy in a cloud assembly (including policies
named or embedded in provisioning template bodies) with intrinsics resolved to readable
placeholders; rules, one module each; the cross-device simulation; JSON and Markdown reports;
gating by severity. Policy matching and template evaluation come from ``iot_semantics``.
"""
