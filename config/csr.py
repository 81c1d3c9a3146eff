"""Claim CSRs named by the config: read, check and attach them to the model.

The stack turns a claim CSR into an ``AWS::IoT::Certificate``, so the claim private key stays on
the machine that made it. A file holding a private key is refused without echoing any of it.
"""

from __future__ import annotations

from pathlib import Path

from config.errors import ConfigIssue
from config.models import FleetConfig
from iot_semantics import limits


def check_csr_pem(pem: str) -> str | None:
    """Return None when ``pem`` is a CSR AWS IoT accepts, else the rule it breaks."""
    if "PRIVATE KEY" in pem:
        return (
            "holds a PRIVATE KEY; never give the stack a private key. Point claim_csr_file at the claim "
            "CSR (python -m provisioning claim-csr writes one) and keep the key on the factory station"
        )
    if len(pem) > limits.CSR_MAX_CHARS:
        return f"is {len(pem)} characters; AWS IoT accepts CSRs of at most {limits.CSR_MAX_CHARS}"
    # Imported here: most synths have no claim CSR and need not pay for loading cryptography.
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        request = x509.load_pem_x509_csr(pem.encode())
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is no ValueError: a damaged version field
        return "is not a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST-----)"
    from cryptography.exceptions import UnsupportedAlgorithm

    try:  # a damaged public key or signature surfaces only here, as ValueError or UnsupportedAlgorithm
        valid = request.is_signature_valid
        key = request.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "has a public key or signature that cannot be read (the CSR is damaged or uses an unknown key type)"
    if not valid:
        return "has an invalid signature (the CSR was altered after signing)"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            return f"has an RSA-{key.key_size} key; AWS IoT requires RSA of at least 2048 bits"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1):
            return f"uses curve {key.curve.name}; AWS IoT accepts P-256, P-384 and P-521"
    else:
        return f"has a {type(key).__name__}; AWS IoT accepts RSA (2048+) or EC P-256/P-384/P-521 keys"
    return None


def attach_claim_csrs(config: FleetConfig, base: Path) -> tuple[FleetConfig, list[ConfigIssue]]:
    issues: list[ConfigIssue] = []
    fleets = list(config.fleets)
    for i, fleet in enumerate(fleets):
        prov = fleet.provisioning
        field = f"fleets[{i}].provisioning"
        if prov.claim_csr_file and prov.claim_csr_pem:
            issues.append(
                ConfigIssue(
                    f"{field}.claim_csr_file", prov.claim_csr_file, "set claim_csr_file or claim_csr_pem, not both"
                )
            )
            continue
        pem = prov.claim_csr_pem
        where = f"{field}.claim_csr_pem"
        if prov.claim_csr_file:
            where = f"{field}.claim_csr_file"
            path = (base / prov.claim_csr_file).resolve()
            try:
                pem = path.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "it is not ASCII PEM text"
                issues.append(ConfigIssue(where, prov.claim_csr_file, f"cannot read {path}: {reason}"))
                continue
        if pem is None:
            continue
        problem = check_csr_pem(pem)
        if problem:
            shown = prov.claim_csr_file or "(inline PEM)"
            issues.append(ConfigIssue(where, shown, problem))
            continue
        fleets[i] = fleet.model_copy(update={"provisioning": prov.model_copy(update={"claim_csr_pem": pem})})
    return config.model_copy(update={"fleets": tuple(fleets)}), issues
