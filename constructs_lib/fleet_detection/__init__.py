from constructs_lib.fleet_detection.infrastructure import FleetDetection

__all__ = ["FleetDetection"]
