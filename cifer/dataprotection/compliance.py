"""What seed 001's `compliance` objects say, derived from the key and the request, never canned
(docs/security-api.md, "Compliance").

- `regulations`: the regulations a key's `regulatoryRequirement` names, among `REGULATIONS`;
- `nistCompliant`: every primitive NIST-approved: ML-KEM (FIPS 203), HKDF (SP 800-56C) and
  AES-256-GCM (SP 800-38D); ChaCha20-Poly1305 is not;
- `fipsValidated`: whether a FIPS 140 validated module holds the KEK. No token reachable here says
  so through PKCS#11 (SoftHSM2 is not validated; a key file never is), so it is false.
"""

from __future__ import annotations

import re

from cifer.crypto.suites import AES_256_GCM

REGULATIONS = ("HIPAA", "GDPR", "PCI DSS", "SOX", "CCPA", "GLBA", "FERPA", "HITECH")


def regulations(requirement: str | None) -> list[str]:
    """The known regulations a free-text requirement names, in the order of `REGULATIONS`."""
    if not requirement:
        return []
    text = re.sub(r"[^A-Za-z0-9]+", " ", requirement).upper()
    return [name for name in REGULATIONS if re.search(rf"\b{name}\b", text.replace("PCI-DSS", "PCI DSS"))]


def nist_compliant(aead: str) -> bool:
    return aead == AES_256_GCM

