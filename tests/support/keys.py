"""Fresh write keys for the writers' tests: a Google service account, an App Store .p8 key."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def service_account_key(directory: Path, token_uri: str) -> Path:
    """A service-account JSON key file whose tokens are asked at `token_uri`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = directory / "play-write-key.json"
    info = {
        "type": "service_account",
        "project_id": "example-project",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "replies@example-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info))
    return path


def p8_key(directory: Path) -> tuple[Path, ec.EllipticCurvePublicKey]:
    """A fresh P-256 key written as Apple's .p8 (PKCS#8 PEM), and its public half."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = directory / "AuthKey_REPLYKEY99.p8"
    path.write_bytes(pem)
    return path, key.public_key()
