"""One encrypted SNS topic for every Device Defender alert, alarm and audit notification."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib.iot_service import iot_service_role

#: What a publisher to a KMS-encrypted SNS topic needs on the key.
PUBLISH_KEY_ACTIONS = ["kms:GenerateDataKey", "kms:Decrypt"]


@dataclass(frozen=True)
class AlertSubscription:
    protocol: Literal["email", "https", "sqs"]
    endpoint: str


class Alerting(Construct):
    """SNS topic (customer-managed key, SSL enforced), its subscriptions and the IoT publisher roles."""

    def __init__(self, scope: Construct, id_: str, *, subscriptions: Sequence[AlertSubscription]) -> None:
        super().__init__(scope, id_)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts Device Defender alerts",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True, display_name="IoT security")
        # CloudWatch alarms publish to the encrypted topic: the key must let CloudWatch use it.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishEncrypted",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=PUBLISH_KEY_ACTIONS,
                resources=["*"],  # '*' in a key policy means this key
            )
        )
        self.alert_role = self._publisher("AlertRole", "Device Defender Detect alerts to the security topic")
        self.audit_notification_role = self._publisher(
            "AuditNotificationRole", "Device Defender audit notifications to the security topic"
        )
        for i, sub in enumerate(subscriptions):
            if sub.protocol == "email":
                self.topic.add_subscription(subs.EmailSubscription(sub.endpoint))
            elif sub.protocol == "https":
                self.topic.add_subscription(subs.UrlSubscription(sub.endpoint, protocol=sns.SubscriptionProtocol.HTTPS))
            else:
                queue = sqs.Queue.from_queue_arn(self, f"Queue{i}", sub.endpoint)
                self.topic.add_subscription(subs.SqsSubscription(queue, raw_message_delivery=False))

    def _publisher(self, id_: str, description: str) -> iam.Role:
        role = iot_service_role(self, id_, description=description)
        role.add_to_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=[self.topic.topic_arn], sid="PublishToSecurityTopic")
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=PUBLISH_KEY_ACTIONS, resources=[self.key.key_arn], sid="EncryptForTopic")
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"{id_}Publishes",
                principals=[role],
                actions=PUBLISH_KEY_ACTIONS,
                resources=["*"],  # '*' in a key policy means this key
            )
        )
        return role
