"""Greengrass client devices: client device auth's device groups from the example config, judged by
what they allow under the component's own matching rules, and ``iot-provision greengrass-components``
as a user runs it."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import config as fleet_config
from contracts import outputs as contract
from contracts.exit_status import ExitStatus
from provisioning import client_devices as cd
from provisioning.errors import UsageError
from stacks import plans
from tests.conftest import example_data, write_config

ROOT = Path(__file__).resolve().parents[2]
ROLE_ARN = "arn:aws:iam::123456789012:role/acme-dev-cores-tes"


def _outputs(tmp_path: Path, data: dict[str, Any] | None = None) -> Path:
    """A deployment outputs file of the config, as ``cdk deploy --outputs-file`` writes it."""
    config = fleet_config.load(write_config(tmp_path, data or example_data()))
    values: dict[str, str] = {contract.FLEET_NAMES: ",".join(f.name for f in config.fleets)}
    for fleet in config.fleets:
        values.update(plans.fleet_outputs(plans.fleet_spec(config, fleet)))
        if fleet.greengrass is not None:
            values[contract.fleet_key(fleet.name, contract.FleetOutput.TOKEN_EXCHANGE_ROLE_ARN)] = ROLE_ARN
    path = tmp_path / "deploy-outputs.json"
    path.write_text(json.dumps({"AcmeDevFleetProvisioning": values}))
    return path


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioning", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(cwd)},
    )


# What the component allows, after its source (docs/greengrass.md [C1]-[C4]) -----------------------


def _selected(rule: str, thing: str) -> bool:
    """A ``thingName: X`` rule as WildcardSuffixAttribute matches it (OR of clauses)."""
    for clause in rule.split(" OR "):
        expr = clause.split(":", 1)[1].strip().replace("\\:", ":")
        if (expr.endswith("*") and thing.startswith(expr[:-1])) or expr == thing:
            return True
    return False


def _glob(pattern: str, value: str) -> bool:
    """The nucleus's WildcardTrie.matchesStandard: '*' spans any characters, '#' and '+' are literal."""
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), value) is not None


def allows(groups: dict[str, Any], thing: str, operation: str, resource: str) -> bool:
    for group in groups["definitions"].values():
        if not _selected(group["selectionRule"], thing):
            continue
        for statement in groups["policies"][group["policyName"]].values():
            if operation not in statement["operations"]:
                continue
            for granted in statement["resources"]:
                if _glob(granted.replace(cd.THING_NAME_VARIABLE, thing), resource):
                    return True
    return False


@pytest.fixture(scope="module")
def groups(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("cda")
    fleets, _ = __import__("provisioning.target", fromlist=["load_fleets"]).load_fleets(_outputs(tmp))
    clients = [
        cd.ClientFleet(n, fleets[n].thing_name_template, fleets[n].publish_namespaces, fleets[n].subscribe_namespaces)
        for n in fleets["cores"].client_device_fleets
    ]
    result: dict[str, Any] = cd.device_groups(clients)
    return result


def test_the_example_makes_one_group_for_the_sensors(groups: dict[str, Any]) -> None:
    assert groups["formatVersion"] == "2021-03-05"
    sensors = {"selectionRule": "thingName: sensor-*", "policyName": "sensors-policy"}
    assert groups["definitions"] == {"sensors": sensors}
    policy = groups["policies"]["sensors-policy"]
    assert policy["connect"]["resources"] == ["mqtt:clientId:${iot:Connection.Thing.ThingName}"]
    assert policy["publish"]["resources"] == ["mqtt:topic:dt/sensors/${iot:Connection.Thing.ThingName}/*"]
    assert policy["subscribe"]["resources"] == ["mqtt:topicfilter:cmd/sensors/${iot:Connection.Thing.ThingName}/*"]
    resources = [r for s in policy.values() for r in s["resources"]]
    operations = [o for s in policy.values() for o in s["operations"]]
    assert "*" not in resources + operations, "no statement grants everything"
    assert all(r.endswith("}") or r.endswith("}/*") for r in resources), "'*' only below the thing-name level"


def test_a_sensor_reaches_its_own_topics(groups: dict[str, Any]) -> None:
    assert allows(groups, "sensor-1", "mqtt:connect", "mqtt:clientId:sensor-1")
    assert allows(groups, "sensor-1", "mqtt:publish", "mqtt:topic:dt/sensors/sensor-1/temperature")
    assert allows(groups, "sensor-1", "mqtt:subscribe", "mqtt:topicfilter:cmd/sensors/sensor-1/#")


PREFIX_RELATED = [("sensor-1", "sensor-10"), ("sensor-10", "sensor-1"), ("sensor-1", "sensor-1x")]


@pytest.mark.parametrize(("me", "other"), PREFIX_RELATED)
def test_no_sensor_reaches_a_prefix_related_sensor(groups: dict[str, Any], me: str, other: str) -> None:
    assert not allows(groups, me, "mqtt:connect", f"mqtt:clientId:{other}")
    assert not allows(groups, me, "mqtt:publish", f"mqtt:topic:dt/sensors/{other}/temperature")
    assert not allows(groups, me, "mqtt:publish", f"mqtt:topic:dt/sensors/{other}")
    assert not allows(groups, me, "mqtt:subscribe", f"mqtt:topicfilter:cmd/sensors/{other}/#")
    for shared in ("cmd/sensors/#", "cmd/sensors/+/x", "cmd/#", "#", f"cmd/sensors/{me}x/#"):
        assert not allows(groups, me, "mqtt:subscribe", f"mqtt:topicfilter:{shared}"), shared


def test_other_fleets_things_are_in_no_group(groups: dict[str, Any]) -> None:
    for thing in ("gw-pla01-GW0000000001", "core-pla01-GC00000001", "xsensor-1"):
        assert not allows(groups, thing, "mqtt:connect", f"mqtt:clientId:{thing}")


def test_a_fleet_without_a_fixed_name_start_is_refused() -> None:
    with pytest.raises(UsageError, match=r"client device fleet any: .* no fixed start") as err:
        cd.device_groups([cd.ClientFleet("any", "{SerialNumber}", ("dt/{thing_name}",), ())])
    assert "thing_name" in err.value.fix


def test_overlapping_fleets_and_bad_namespaces_are_refused() -> None:
    a = cd.ClientFleet("a", "sensor-{S}", ("dt/a/{thing_name}",), ())
    b = cd.ClientFleet("b", "sensor-x-{S}", ("dt/b/{thing_name}",), ())
    with pytest.raises(UsageError, match="would get a's permissions"):
        cd.device_groups([a, b])
    with pytest.raises(UsageError, match="one whole level and no wildcard"):
        cd.device_groups([cd.ClientFleet("c", "c-{S}", ("dt/c-{thing_name}",), ())])
    with pytest.raises(UsageError, match="declares no client device fleets"):
        cd.device_groups([])


def test_an_auth_version_without_policy_variables_is_refused() -> None:
    with pytest.raises(UsageError, match=r"from 2\.5\.0 on"):
        cd.check_auth_version("2.4.5")
    assert cd.check_auth_version("2.5.0") == "2.5.0"


# The command as a user runs it -------------------------------------------------------------------


def test_greengrass_components_writes_a_create_deployment_document(tmp_path: Path) -> None:
    out = tmp_path / "deployment.json"
    outputs = _outputs(tmp_path)
    done = _run("greengrass-components", "--outputs", str(outputs), "--fleet", "cores", "--out", str(out),
                "--region", "eu-west-1", cwd=tmp_path)  # fmt: skip
    assert done.returncode == ExitStatus.OK, done.stderr
    assert "create-deployment --cli-input-json" in done.stdout
    document = json.loads(out.read_text())
    assert document["targetArn"] == "arn:aws:iot:eu-west-1:123456789012:thinggroup/acme-dev-plant-a-cores"
    assert set(document) <= {"targetArn", "deploymentName", "components"}  # CreateDeployment's members
    auth = document["components"][cd.AUTH_COMPONENT]
    assert auth["componentVersion"] == cd.DEFAULT_AUTH_VERSION
    merged = json.loads(auth["configurationUpdate"]["merge"])
    assert merged["deviceGroups"]["definitions"]["sensors"]["selectionRule"] == "thingName: sensor-*"
    assert document["components"][cd.MOQUETTE_COMPONENT] == {"componentVersion": cd.DEFAULT_MOQUETTE_VERSION}
    again = _run("greengrass-components", "--outputs", str(outputs), "--fleet", "cores", "--out", str(out),
                 "--region", "eu-west-1", cwd=tmp_path)  # fmt: skip
    assert again.returncode == ExitStatus.USAGE
    assert "exists" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fleet", "sensors"], "not a Greengrass core fleet"),
        (["--fleet", "nope"], "is not in the outputs file"),
        (["--fleet", "cores", "--auth-version", "2.4.5"], "from 2.5.0 on"),
        (["--fleet", "cores"], "pass --region"),
    ],
)
def test_greengrass_components_bad_input_is_a_usage_error(tmp_path: Path, extra: list[str], message: str) -> None:
    done = _run("greengrass-components", "--outputs", str(_outputs(tmp_path)), "--out", str(tmp_path / "d.json"),
                *extra, cwd=tmp_path)  # fmt: skip
    assert done.returncode == ExitStatus.USAGE
    assert message in done.stderr
    assert "fix:" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "d.json").exists()


def test_a_core_fleet_without_client_devices_is_told_what_to_declare(tmp_path: Path) -> None:
    data = copy.deepcopy(example_data())
    cores = next(f for f in data["fleets"] if f["name"] == "cores")
    del cores["greengrass"]["client_devices"]
    data["fleets"][0]["features"]["greengrass_discovery"] = False
    target = "arn:aws:iot:eu-west-1:123456789012:thinggroup/x"
    done = _run("greengrass-components", "--outputs", str(_outputs(tmp_path, data)), "--fleet", "cores",
                "--out", str(tmp_path / "d.json"), "--target-arn", target, cwd=tmp_path)  # fmt: skip
    assert done.returncode == ExitStatus.USAGE
    assert "greengrass.client_devices.fleets" in done.stderr


def test_help_and_no_cdk_import(tmp_path: Path) -> None:
    done = _run("greengrass-components", "--help", cwd=tmp_path)
    assert done.returncode == ExitStatus.OK
    assert "--auth-version" in done.stdout
    assert "--moquette-version" in done.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, provisioning.cli, provisioning.client_devices; "
         "sys.exit('aws_cdk' in sys.modules or 'constructs_lib' in sys.modules)"],
        cwd=ROOT, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, "the factory CLI must not import CDK"
