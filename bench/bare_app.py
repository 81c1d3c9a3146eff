"""The baseline of bench_synth.py: a CDK app with one stack holding one resource."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_sqs as sqs

app = cdk.App()
stack = cdk.Stack(app, "Bare")
sqs.Queue(stack, "Queue")
app.synth()
