"""Names of AWS IoT policy variables and condition keys (fact sheet 5.4), and how to write them.

A policy names a variable as ``${name}``; conditions use the bare name as their key. Every module
that writes or reads a policy takes the names from here: the stacks' policy documents, the
evaluator, the review's rules and its simulation.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: The name of the thing whose certificate made the connection (set only when the client ID is a
#: thing's name).
THING_NAME = "iot:Connection.Thing.ThingName"
#: The thing type of the connecting thing.
THING_TYPE_NAME = "iot:Connection.Thing.ThingTypeName"
#: "true" when the connecting certificate is attached to the thing named by the client ID.
IS_ATTACHED = "iot:Connection.Thing.IsAttached"
CLIENT_ID = "iot:ClientId"
CERTIFICATE_ID = "iot:CertificateId"
DOMAIN_NAME = "iot:DomainName"
SOURCE_IP = "aws:SourceIp"
CERTIFICATE_SERIAL_NUMBER = "iot:Certificate.SerialNumber"
CERTIFICATE_AVAILABLE_KEYS = "iot:Certificate.AvailableKeys"

#: Fields of the certificate's Subject and Issuer (``iot:Certificate.Subject.CommonName``, ...).
CERTIFICATE_FIELDS = (
    "DistinguishedNameQualifier",
    "Country",
    "Organization",
    "OrganizationalUnit",
    "State",
    "CommonName",
    "SerialNumber",
    "Title",
    "Surname",
    "GivenName",
    "Initials",
    "Pseudonym",
    "GenerationQualifier",
)
CERTIFICATE_ALTERNATIVE_NAMES = ("RFC822Name", "DNSName", "DirectoryName", "UniformResourceIdentifier", "IPAddress")

KNOWN = frozenset(
    {
        CLIENT_ID,
        CERTIFICATE_ID,
        DOMAIN_NAME,
        SOURCE_IP,
        THING_NAME,
        THING_TYPE_NAME,
        IS_ATTACHED,
        CERTIFICATE_SERIAL_NUMBER,
        CERTIFICATE_AVAILABLE_KEYS,
        *(f"iot:Certificate.{side}.{f}" for side in ("Subject", "Issuer") for f in CERTIFICATE_FIELDS),
        *(
            f"iot:Certificate.{side}.AlternativeName.{a}"
            for side in ("Subject", "Issuer")
            for a in CERTIFICATE_ALTERNATIVE_NAMES
        ),
    }
)
#: ``iot:Connection.Thing.Attributes[<name>]``; the name follows the attribute-name pattern.
ATTRIBUTE = re.compile(r"iot:Connection\.Thing\.Attributes\[([A-Za-z0-9_.,@/:#-]+)\]")
#: ``${...}`` references in a policy string.
REFERENCE = re.compile(r"\$\{([^}]*)\}")
#: ``${*}``, ``${?}`` and ``${$}`` stand for the literal characters.
LITERAL_ESCAPES = ("*", "?", "$")
_MULTI_VALUE_SUFFIX = re.compile(r"\.(List|\d+)$")


def ref(name: str) -> str:
    """How a policy string names the variable: ``${name}``."""
    return "${" + name + "}"


def attribute(name: str) -> str:
    """The variable of thing attribute ``name``."""
    return f"iot:Connection.Thing.Attributes[{name}]"


#: The policy variable that confines a device to its own resources.
THING_NAME_VAR = ref(THING_NAME)
CLIENT_ID_VAR = ref(CLIENT_ID)
#: Matches a thing-attribute variable reference, ``${iot:Connection.Thing.Attributes[<name>]}``.
ATTRIBUTE_REFERENCE = re.compile(r"\$\{" + ATTRIBUTE.pattern + r"\}")


@lru_cache(maxsize=4096)
def is_known(name: str) -> bool:
    """True for a documented policy variable (``iot:ThingName`` is not one)."""
    if name in LITERAL_ESCAPES or name in KNOWN or ATTRIBUTE.fullmatch(name):
        return True
    base = _MULTI_VALUE_SUFFIX.sub("", name)
    return base != name and base in KNOWN and base.startswith("iot:Certificate.")


def references(text: str) -> list[str]:
    """The variable names ``text`` references, in order (``${a}/${b}`` -> ``["a", "b"]``)."""
    return REFERENCE.findall(text)
