"""Rules that explain the simulation's facts: what one holder of IoT policies can reach.

Each rule selects facts of some kinds (``policy_review.simulate.Fact.kind``) and says, in words, the
evaluated fact and its witness: which device, connected how, may do what to which resource of which
other device, and which statement of which policy allowed it. The finding ID is the kind and the
granting resource as the policy writes it, so a suppression names a grant, not a run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from iot_semantics.arns import resource_part
from policy_review.model import Severity
from policy_review.rules.base import Found, Review, Rule
from policy_review.simulate import Fact

_VERB = {
    "connect-as": "connect with the client ID",
    "topic-write": "publish to",
    "topic-read": "read",
    "shadow-write": "change the shadow through",
    "shadow-read": "read the shadow through",
    "jobs-write": "act on the jobs through",
    "jobs-read": "read the jobs through",
    "tunnel-write": "send a tunnel notification on",
    "tunnel-read": "read the tunnel access tokens sent on",
    "retain-write": "leave a retained message on",
    "retain-read": "read the retained message of",
    "shared-write": "publish to",
    "shared-read": "read",
    "channel": "publish to",
}
_DEFENDER = "Device Defender IOT_POLICY_OVERLY_PERMISSIVE_CHECK (ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS)"


def finding_id(fact: Fact) -> str:
    grant = resource_part(fact.pattern) if fact.pattern else (fact.statement.label() if fact.statement else "")
    return f"{fact.kind}::{grant}" if grant else fact.kind


def _grant(fact: Fact) -> str:
    where = f"policy {fact.policy.name}"
    if fact.statement is not None:
        where += f", statement {fact.statement.label()}"
    if fact.pattern:
        where += f", resource {resource_part(fact.pattern)}"
    return where


def _via(fact: Fact) -> str:
    parts = []
    if fact.detail:
        parts.append(fact.detail)
    if fact.topic_filter and fact.topic_filter != resource_part(fact.resource).partition("/")[2]:
        parts.append(f"by subscribing to {fact.topic_filter}")
    elif fact.topic_filter:
        parts.append(f"by subscribing to {fact.topic_filter} itself")
    return (" " + ", ".join(parts)) if parts else ""


def witness(fact: Fact) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": fact.kind, "action": fact.action, "resource": fact.resource, "device": fact.me}
    if fact.other:
        out["other_device"] = fact.other
    if fact.client_id is not None:
        out["client_id"] = fact.client_id
    if fact.topic_filter:
        out["topic_filter"] = fact.topic_filter
    if fact.pattern:
        out["granted_by"] = resource_part(fact.pattern)
    return out


def describe(fact: Fact) -> str:
    """The fact in one sentence, its witness included."""
    target = resource_part(fact.resource)
    name = target.partition("/")[2]
    kind = fact.kind
    if kind == "connect-as":
        return (
            f"device {fact.me}'s certificate may connect with client ID {name} of device {fact.other}{_via(fact)}: "
            f"AWS IoT then disconnects {fact.other}, and {fact.me} acts under its name ({_grant(fact)})"
        )
    if kind in ("shared-write", "shared-read"):
        verb = _VERB[kind]
        return (
            f"every device may {verb} {name}, a topic naming device {fact.other} in a namespace no level of "
            f"which is bound to the device itself, e.g. {fact.me}{_via(fact)} ({_grant(fact)})"
        )
    if kind == "channel":
        return (
            f"every device may both publish to and read {name} (e.g. {fact.me} writes, every other device "
            f"receives{', subscribing to ' + fact.topic_filter if fact.topic_filter else ''}): one compromised "
            f"device reaches the whole fleet ({_grant(fact)})"
        )
    if kind == "dead-grant":
        return (
            f"{fact.action} is granted on {fact.pattern or 'its resources'}, none of which is a "
            f"{target.rstrip('/')}/ resource: the grant allows nothing ({_grant(fact)})"
        )
    if kind == "subscribe-no-receive":
        return (
            f"a device may subscribe to {name or resource_part(fact.pattern)} but receive none of the topics it "
            f"delivers: the subscription stays silent ({_grant(fact)})"
        )
    if kind == "ineffective-deny":
        doing = "reading" if fact.topic_filter else "publishing to"
        return (
            f"the Deny on {resource_part(fact.pattern)} does not stop device {fact.me} from {doing} "
            f"{name}{_via(fact)} ({_grant(fact)})"
        )
    if kind == "claim-connect":
        return (
            f"the claim certificate may connect with client ID {name}, the name of a device it provisions, "
            f"which disconnects that device ({_grant(fact)})"
        )
    if kind == "claim-beyond":
        if fact.action.lower() in ("iot:publish", "iot:receive"):
            verb = "publish to" if fact.action.lower() == "iot:publish" else "read"
            how = f" by subscribing to {fact.topic_filter}" if fact.topic_filter else ""
            return f"the claim certificate may {verb} {name}{how}; {fact.detail} ({_grant(fact)})"
        return f"the claim certificate may use {fact.action}, which provisioning never needs ({_grant(fact)})"
    if kind == "role-alias":
        return (
            f"device {fact.me} may obtain the credentials of role alias {name}, not one its policy names "
            f"({_grant(fact)})"
        )
    if kind in ("shadow-read", "shadow-write", "jobs-read", "jobs-write") and target.startswith("thing/"):
        action = fact.action.partition(":")[2]
        return f"device {fact.me} may call {action} on thing {name} of device {fact.other}{_via(fact)} ({_grant(fact)})"
    return f"device {fact.me} may {_VERB.get(kind, kind)} {name} of device {fact.other}{_via(fact)} ({_grant(fact)})"


def _explain(*kinds: str) -> Any:
    def check(review: Review) -> Iterator[Found]:
        for fact in review.of(*kinds):
            yield Found(fact.policy, describe(fact), finding_id(fact), witness(fact))

    return check


CONNECT_AS_OTHER = Rule(
    id="IOT-CONNECT-AS-OTHER",
    severity=Severity.CRITICAL,
    title="A device may connect as another device",
    explanation="Connect allows a client ID that belongs to another thing (client/* or ${iot:ClientId} or a thing "
    "name without the IsAttached condition): the other device is disconnected and, thing variables taking its "
    "values, the connection gets its topics.",
    fix="Resource client/${iot:Connection.Thing.ThingName} with Condition Bool iot:Connection.Thing.IsAttached true.",
    check=_explain("connect-as"),
    see_also=(_DEFENDER, "Device Defender CONFLICTING_CLIENT_IDS_CHECK"),
)
CROSS_DEVICE_TOPICS = Rule(
    id="IOT-CROSS-DEVICE-TOPICS",
    severity=Severity.CRITICAL,
    title="A device may publish to or read another device's topics",
    explanation="A topic that the other device's own policy grants it (and not every device), or one of its "
    "reserved $aws/things/<thing>/ topics, is reachable: a wildcard after a thing-name variable, a shared "
    "prefix, or a client ID the device may choose.",
    fix="Bind every topic to ${iot:Connection.Thing.ThingName} as a whole level "
    "(dt/${iot:Connection.Thing.ThingName}/*).",
    check=_explain("topic-write", "topic-read"),
    see_also=(_DEFENDER,),
)
CROSS_DEVICE_SHADOW = Rule(
    id="IOT-CROSS-DEVICE-SHADOW",
    severity=Severity.CRITICAL,
    title="A device may read or change another device's shadow",
    explanation="Over MQTT ($aws/things/<thing>/shadow/...) or the HTTPS shadow API (thing/<thing>).",
    fix="Use $aws/things/${iot:Connection.Thing.ThingName}/shadow/* and thing/${iot:Connection.Thing.ThingName}.",
    check=_explain("shadow-read", "shadow-write"),
    see_also=(_DEFENDER,),
)
CROSS_DEVICE_JOBS = Rule(
    id="IOT-CROSS-DEVICE-JOBS",
    severity=Severity.CRITICAL,
    title="A device may read or update another device's job executions",
    explanation="Job documents often carry firmware URLs and credentials; updating another device's execution "
    "reports its jobs done.",
    fix="Use $aws/things/${iot:Connection.Thing.ThingName}/jobs/* and thing/${iot:Connection.Thing.ThingName}.",
    check=_explain("jobs-read", "jobs-write"),
    see_also=(_DEFENDER,),
)
CROSS_DEVICE_TUNNEL = Rule(
    id="IOT-CROSS-DEVICE-TUNNEL",
    severity=Severity.CRITICAL,
    title="A device may read or spoof another device's secure-tunneling notifications",
    explanation="$aws/things/<thing>/tunnels/notify carries the destination client access token: reading "
    "another device's lets the reader open the tunnel meant for it.",
    fix="Subscribe and Receive only $aws/things/${iot:Connection.Thing.ThingName}/tunnels/notify (a core device: "
    "its literal name).",
    check=_explain("tunnel-read", "tunnel-write"),
    see_also=(_DEFENDER,),
)
CROSS_DEVICE_RETAINED = Rule(
    id="IOT-CROSS-DEVICE-RETAINED",
    severity=Severity.HIGH,
    title="A device may retain or read retained messages on another device's topics",
    explanation="A retained message waits for the other device's next subscription: an injection that outlives "
    "the connection (iot:RetainPublish) or a read of what was left for it (iot:GetRetainedMessage).",
    fix="Grant iot:RetainPublish and iot:GetRetainedMessage only on the device's own topics.",
    check=_explain("retain-write", "retain-read"),
    see_also=(_DEFENDER,),
)
SHARED_NAMESPACE_WRITE = Rule(
    id="IOT-SHARED-NAMESPACE-WRITE",
    severity=Severity.HIGH,
    title="Devices may publish under each other's names in a shared namespace",
    explanation="The topic namespace has no level bound to the device, so any device can publish as any other "
    "(e.g. dt/<other device>/...) and the backend cannot tell them apart by topic.",
    fix="Put ${iot:Connection.Thing.ThingName} as a whole level in the namespace.",
    check=_explain("shared-write"),
    see_also=(_DEFENDER, "cfn_nag W39 (bare * only)"),
)
SHARED_NAMESPACE_READ = Rule(
    id="IOT-SHARED-NAMESPACE-READ",
    severity=Severity.MEDIUM,
    title="Devices may read each other's messages in a shared namespace",
    explanation="Any device may subscribe to and receive topics naming other devices (e.g. cmd/<other device>).",
    fix="Put ${iot:Connection.Thing.ThingName} as a whole level in the namespace, or keep it for broadcasts only.",
    check=_explain("shared-read"),
    see_also=(_DEFENDER,),
)
FLEET_CHANNEL = Rule(
    id="IOT-FLEET-CHANNEL",
    severity=Severity.MEDIUM,
    title="A topic every device may both write and read",
    explanation="A fleet-wide channel: one compromised device can send to every other device.",
    fix="Let devices publish under their own name and let only the backend publish fleet broadcasts.",
    check=_explain("channel"),
)
CLAIM_BEYOND_PROVISIONING = Rule(
    id="IOT-CLAIM-BEYOND-PROVISIONING",
    severity=Severity.HIGH,
    title="A claim certificate reaches beyond its provisioning API",
    explanation="A claim certificate is shared by a whole production run; beyond CreateCertificateFromCsr/"
    "CreateKeysAndCertificate and its own templates' RegisterThing, one leaked claim key reaches devices, "
    "other templates or other services.",
    fix="Grant exactly $aws/certificates/create-from-csr/json (+ /accepted, /rejected) and "
    "$aws/provisioning-templates/<template>/provision/json (+ /accepted, /rejected); Connect with a claim prefix "
    "no thing name can have.",
    check=_explain("claim-connect", "claim-beyond"),
    see_also=(_DEFENDER,),
)
ROLE_ALIAS_REACH = Rule(
    id="IOT-ROLE-ALIAS-REACH",
    severity=Severity.HIGH,
    title="A device may obtain the credentials of other role aliases",
    explanation="iot:AssumeRoleWithCertificate on a wildcard reaches every role alias of the account, not just "
    "the one the device (or core device) needs.",
    fix="Name the role alias ARN exactly (rolealias/<alias>).",
    check=_explain("role-alias"),
    see_also=("Device Defender IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK",),
)
INEFFECTIVE_DENY = Rule(
    id="IOT-INEFFECTIVE-DENY",
    severity=Severity.MEDIUM,
    title="A Deny that does not remove what it aims at",
    explanation="MQTT + and # are literal in policies, and a Deny on a topic filter is bypassed by subscribing to "
    "a broader filter unless iot:Receive is denied on the topics too: the witness is still delivered.",
    fix="Deny iot:Receive (and iot:Subscribe) on topic/ and topicfilter/ resources written with policy wildcards (*).",
    check=_explain("ineffective-deny"),
    see_also=("Device Defender IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK",),
)
SUBSCRIBE_RECEIVE_MISMATCH = Rule(
    id="IOT-SUBSCRIBE-RECEIVE-MISMATCH",
    severity=Severity.LOW,
    title="A subscription that can deliver nothing",
    explanation="Subscribe is checked against the filter, Receive against every delivered topic: no topic the "
    "filter delivers may be received, so the subscription succeeds and stays silent.",
    fix="Allow iot:Receive on topic/<same path> for every topicfilter/<path> the device subscribes to.",
    check=_explain("subscribe-no-receive"),
)
RESOURCE_TYPE = Rule(
    id="IOT-RESOURCE-TYPE",
    severity=Severity.LOW,
    title="An action granted on resources of a type it is never checked against",
    explanation="Subscribe is checked against topicfilter/, Publish and Receive against topic/, Connect against "
    "client/, the shadow and job APIs against thing/: the grant allows nothing.",
    fix="Use topicfilter/ for iot:Subscribe and topic/ for iot:Publish, iot:Receive and iot:RetainPublish.",
    check=_explain("dead-grant"),
    see_also=("Parliament RESOURCE_MISMATCH", "cfn-lint I3510"),
)

RULES = (
    CONNECT_AS_OTHER,
    CROSS_DEVICE_TOPICS,
    CROSS_DEVICE_SHADOW,
    CROSS_DEVICE_JOBS,
    CROSS_DEVICE_TUNNEL,
    CROSS_DEVICE_RETAINED,
    SHARED_NAMESPACE_WRITE,
    SHARED_NAMESPACE_READ,
    FLEET_CHANNEL,
    CLAIM_BEYOND_PROVISIONING,
    ROLE_ALIAS_REACH,
    INEFFECTIVE_DENY,
    SUBSCRIBE_RECEIVE_MISMATCH,
    RESOURCE_TYPE,
)
