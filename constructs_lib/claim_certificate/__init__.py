from constructs_lib.claim_certificate.infrastructure import ClaimCertificate

__all__ = ["ClaimCertificate"]
