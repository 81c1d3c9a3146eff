"""bench_synth.py's middle figure: the full app built exactly as app.py does, without cdk-nag."""

from __future__ import annotations

import aws_cdk as cdk

import app as cdk_app
import config as fleet_config

app = cdk.App()
cdk_app.build(app, fleet_config.load())
app.synth()
