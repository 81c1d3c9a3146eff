"""A local AWS IoT double that "deploys" a synthesized cloud assembly (cdk.out) on this machine.

Built so far (transport-independent core): the local CA standing in for Amazon's, the durable
registry, the cloud-assembly reader, the pre-provisioning hook runner and the fleet provisioning
service (CreateCertificateFromCsr, CreateKeysAndCertificate, RegisterThing). The MQTT transport
(mosquitto with mutual TLS) and the control-plane HTTP API come on top of these.
"""
