"""Names the factory CLI's parser needs without importing its cryptography (``--version`` and ``--help`` stay light)."""

from __future__ import annotations

from typing import Literal

KeyType = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"]
KEY_TYPES: tuple[KeyType, ...] = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072")
KEY_STORES = ("file", "pkcs11")
