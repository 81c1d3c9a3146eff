"""Custom metrics and topic-filter dimensions that security profiles refer to by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import aws_iot as iot
from constructs import Construct


class DetectDefinitions(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        custom_metrics: Mapping[str, tuple[str, str]],  # name -> (type, display name)
        dimensions: Mapping[str, Sequence[str]],  # name -> topic filters
    ) -> None:
        super().__init__(scope, id_)
        self.custom_metrics: dict[str, iot.CfnCustomMetric] = {}
        self.dimensions: dict[str, iot.CfnDimension] = {}
        for i, (name, (metric_type, display)) in enumerate(custom_metrics.items()):
            self.custom_metrics[name] = iot.CfnCustomMetric(
                self, f"Metric{i}", metric_name=name, metric_type=metric_type, display_name=display or None
            )
        for i, (name, filters) in enumerate(dimensions.items()):
            self.dimensions[name] = iot.CfnDimension(
                self, f"Dimension{i}", name=name, type="TOPIC_FILTER", string_values=list(filters)
            )

    @property
    def resources(self) -> list[iot.CfnCustomMetric | iot.CfnDimension]:
        return [*self.custom_metrics.values(), *self.dimensions.values()]
