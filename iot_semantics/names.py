"""Naming rules of AWS IoT resources (patterns from the CloudFormation registry schemas)."""

from __future__ import annotations

import re

THING_NAME = re.compile(r"^[a-zA-Z0-9:_-]+$")
THING_TYPE_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
THING_GROUP_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
TEMPLATE_NAME = re.compile(r"^[0-9A-Za-z_-]{1,36}$")
POLICY_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
ATTRIBUTE_NAME = re.compile(r"^[a-zA-Z0-9_.,@/:#-]{1,128}$")
ATTRIBUTE_VALUE = re.compile(r"^[a-zA-Z0-9_.,@/:#=\[\]-]*$")
#: A certificate ID: the SHA-256 of the certificate's DER, in lower-case hex.
CERTIFICATE_ID = re.compile(r"[0-9a-f]{64}")
