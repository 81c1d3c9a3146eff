"""``AWS::IoT::RoleAlias``: how a core reaches its token exchange role through the credentials provider.

The credential duration must not exceed the role's MaxSessionDuration (the credentials provider
cannot mint longer sessions than the role allows); checked at synth.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from constructs import Construct

from constructs_lib.arns import IOT_ARN_PREFIX
from constructs_lib.errors import SynthCheckError

CREDENTIAL_DURATION_MIN, CREDENTIAL_DURATION_MAX = 900, 43200


class RoleAlias(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        alias_name: str,
        role: iam.IRole,
        role_max_session_seconds: int,
        credential_duration_seconds: int,
    ) -> None:
        super().__init__(scope, id_)
        if not CREDENTIAL_DURATION_MIN <= credential_duration_seconds <= CREDENTIAL_DURATION_MAX:
            raise SynthCheckError(
                f"role alias {alias_name!r}: credential duration {credential_duration_seconds} s is outside "
                f"{CREDENTIAL_DURATION_MIN}-{CREDENTIAL_DURATION_MAX} s"
            )
        if credential_duration_seconds > role_max_session_seconds:
            raise SynthCheckError(
                f"role alias {alias_name!r}: credential duration {credential_duration_seconds} s exceeds the "
                f"role's MaxSessionDuration ({role_max_session_seconds} s); lower credential_duration_seconds "
                "or raise max_session_duration_seconds"
            )
        self.alias_name = alias_name
        self.alias_arn = f"{IOT_ARN_PREFIX}:rolealias/{alias_name}"
        self.alias = iot.CfnRoleAlias(
            self,
            "RoleAlias",
            role_alias=alias_name,
            role_arn=role.role_arn,
            credential_duration_seconds=credential_duration_seconds,
        )
