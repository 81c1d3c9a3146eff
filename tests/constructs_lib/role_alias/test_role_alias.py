"""The role alias's credential duration is checked against the role's MaxSessionDuration at synth."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from constructs_lib.errors import SynthCheckError
from constructs_lib.role_alias import RoleAlias


def _alias(duration: int, session: int) -> cdk.Stack:
    stack = cdk.Stack()
    role = iam.Role(
        stack,
        "Role",
        assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com"),
        max_session_duration=cdk.Duration.seconds(session),
    )
    RoleAlias(
        stack,
        "Alias",
        alias_name="a-tes",
        role=role,
        role_max_session_seconds=session,
        credential_duration_seconds=duration,
    )
    return stack


def test_duration_equal_to_the_session_is_accepted() -> None:
    template = Template.from_stack(_alias(3600, 3600))
    template.has_resource_properties("AWS::IoT::RoleAlias", {"RoleAlias": "a-tes", "CredentialDurationSeconds": 3600})


@pytest.mark.parametrize(
    ("duration", "session", "message"), [(7200, 3600, "exceeds the role"), (600, 3600, "900-43200")]
)
def test_out_of_bounds_durations_fail_the_synth(duration: int, session: int, message: str) -> None:
    with pytest.raises(SynthCheckError, match=message):
        _alias(duration, session)
