from constructs_lib.alerting.infrastructure import Alerting, AlertSubscription

__all__ = ["AlertSubscription", "Alerting"]
