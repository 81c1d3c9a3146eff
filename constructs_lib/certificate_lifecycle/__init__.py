from constructs_lib.certificate_lifecycle.infrastructure import (
    METRIC_NAMESPACE,
    AllowlistParameters,
    CertificateLifecycle,
    StalledRotationAlarms,
)

__all__ = ["METRIC_NAMESPACE", "AllowlistParameters", "CertificateLifecycle", "StalledRotationAlarms"]
