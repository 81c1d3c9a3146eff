"""A local AWS IoT double that "deploys" a synthesized cloud assembly (cdk.out) on this machine.

``assembly`` reads what to serve (through ``cloud_assembly``, with the double's account and
region); ``ca`` stands in for Amazon's CA; ``registry`` is the durable registry (SQLite);
``provisioning`` is the fleet provisioning service and ``hooks`` runs the pre-provisioning hook
from cdk.out; ``edge`` is the MQTT endpoint (mutual TLS, policy enforcement, the provisioning
API) in front of mosquitto (``broker``); ``control_plane`` serves the control-plane operations
the toolkit uses; ``double`` starts and stops all of it. docs/emulator.md lists where it departs
from AWS IoT. Errors derive from ``errors.DoubleError``.
"""
