from constructs_lib.iot_logging.infrastructure import IotLogging

__all__ = ["IotLogging"]
