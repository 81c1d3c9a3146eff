"""AWS Lambda resources: functions (handler, local code asset, environment) and invoke permissions."""

from __future__ import annotations

from cloud_assembly.model import LambdaFunction, LambdaPermission
from cloud_assembly.parsers.base import RawResource, StackContext, prop_text

ASSET_PATH_METADATA = "aws:asset:path"


def _code_asset(raw: RawResource, ctx: StackContext) -> str | None:
    """The code's directory: the asset-path metadata, else the zip asset its ``S3Key`` names."""
    if isinstance(path := raw.metadata.get(ASSET_PATH_METADATA), str):
        return path
    code = raw.properties.get("Code")
    key = code.get("S3Key") if isinstance(code, dict) else None
    asset = ctx.assets.get(key.removesuffix(".zip")) if isinstance(key, str) else None
    return asset.path if asset is not None and asset.packaging == "zip" else None


def _timeout(value: object) -> int:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return int(text) if text.isdigit() else 3


def function(raw: RawResource, ctx: StackContext) -> LambdaFunction:
    props = raw.properties
    environment = props.get("Environment")
    variables = ctx.resolver.value(environment.get("Variables") if isinstance(environment, dict) else None) or {}
    return LambdaFunction(
        at=raw.at,
        handler=prop_text(props, "Handler"),
        code_asset=_code_asset(raw, ctx),
        environment={str(k): str(v) for k, v in variables.items()} if isinstance(variables, dict) else {},
        timeout_seconds=_timeout(ctx.resolver.value(props.get("Timeout", 3))),
    )


def permission(raw: RawResource, ctx: StackContext) -> LambdaPermission:
    props = raw.properties
    auth = ctx.resolver.value(props.get("FunctionUrlAuthType"))
    return LambdaPermission(
        at=raw.at,
        function=ctx.resolver.text(props.get("FunctionName")),
        principal=ctx.resolver.text(props.get("Principal")),
        source_arn=ctx.resolver.value(props["SourceArn"]) if "SourceArn" in props else None,
        source_account=ctx.resolver.value(props["SourceAccount"]) if "SourceAccount" in props else None,
        action=ctx.resolver.text(props.get("Action", "lambda:InvokeFunction")),
        principal_org_id=ctx.resolver.value(props["PrincipalOrgID"]) if "PrincipalOrgID" in props else None,
        function_url_auth_type=auth if isinstance(auth, str) else None,
    )
