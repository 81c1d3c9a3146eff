"""AWS Lambda resources: functions (handler, local code asset, environment) and invoke permissions."""

from __future__ import annotations

from cloud_assembly.model import LambdaFunction, LambdaPermission
from cloud_assembly.parsers.base import RawResource, StackContext

ASSET_PATH_METADATA = "aws:asset:path"


def _code_asset(raw: RawResource, ctx: StackContext) -> str | None:
    """The code's directory: the asset-path metadata, else the zip asset its ``S3Key`` names."""
    if isinstance(path := raw.metadata.get(ASSET_PATH_METADATA), str):
        return path
    key = (raw.properties.get("Code") or {}).get("S3Key")
    asset = ctx.assets.get(key.removesuffix(".zip")) if isinstance(key, str) else None
    return asset.path if asset is not None and asset.packaging == "zip" else None


def function(raw: RawResource, ctx: StackContext) -> LambdaFunction:
    props = raw.properties
    environment = ctx.resolver.value((props.get("Environment") or {}).get("Variables") or {})
    handler = props.get("Handler")
    return LambdaFunction(
        at=raw.at,
        handler=handler if isinstance(handler, str) else None,
        code_asset=_code_asset(raw, ctx),
        environment={str(k): str(v) for k, v in environment.items()} if isinstance(environment, dict) else {},
        timeout_seconds=int(props.get("Timeout", 3)),
    )


def permission(raw: RawResource, ctx: StackContext) -> LambdaPermission:
    props = raw.properties
    return LambdaPermission(
        at=raw.at,
        function=ctx.resolver.text(props.get("FunctionName")),
        principal=str(props.get("Principal")),
        source_arn=ctx.resolver.value(props["SourceArn"]) if "SourceArn" in props else None,
        source_account=ctx.resolver.value(props["SourceAccount"]) if "SourceAccount" in props else None,
    )
