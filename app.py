#!/usr/bin/env python3
"""CDK app: reads the fleet config once, builds the stacks, plugs in cdk-nag.

npx cdk synth                                   # config/fleet.yaml
npx cdk synth -c fleet_config=path/to/fleet.yaml
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

import config as fleet_config
from constructs_lib.errors import SynthCheckError
from stacks import DeviceDefenderStack, FleetProvisioningStack

PROJECT_TAG = "iot-fleet-toolkit"


def environment(config: fleet_config.FleetConfig) -> cdk.Environment:
    return cdk.Environment(
        account=config.environment.account or os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=config.environment.region or os.environ.get("CDK_DEFAULT_REGION"),
    )


def build(app: cdk.App, config: fleet_config.FleetConfig) -> dict[str, cdk.Stack]:
    """Add every stack of ``config`` to ``app`` and tag all resources."""
    env = environment(config)
    provisioning = FleetProvisioningStack(
        app,
        config.qualified("fleet-provisioning"),
        config=config,
        env=env,
        description=f"IoT fleet provisioning for {config.name_prefix} ({config.stage})",
    )
    stacks: dict[str, cdk.Stack] = {"fleet_provisioning": provisioning}
    if config.defender.enabled:
        stacks["device_defender"] = DeviceDefenderStack(
            app,
            config.qualified("device-defender"),
            config=config,
            provisioning=provisioning,
            env=env,
            description=f"IoT Device Defender for {config.name_prefix} ({config.stage})",
        )
    cdk.Tags.of(app).add("project", PROJECT_TAG)
    cdk.Tags.of(app).add("stage", config.stage)
    for key, value in config.tags.items():
        cdk.Tags.of(app).add(key, value)
    return stacks


def new_app(**kwargs: Any) -> cdk.App:
    return cdk.App(**kwargs)


def add_checks(app: cdk.App) -> None:
    """cdk-nag AwsSolutions (3.x API) and the IoT policy review: synth fails on an unacknowledged
    cdk-nag finding or on a policy-review finding of high severity or more."""
    from policy_review.plugin import PolicyReviewPlugin

    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), PolicyReviewPlugin())


def main() -> int:
    app = new_app()
    path = app.node.try_get_context("fleet_config") or str(fleet_config.DEFAULT_CONFIG)
    try:
        config = fleet_config.load(Path(path))
        build(app, config)
    except fleet_config.ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SynthCheckError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 2
    add_checks(app)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
