"""The Mac port on a KMS HMAC key (GenerateMac / VerifyMac, HMAC_SHA_256): the key never leaves KMS, and who
may make a MAC with it is the key's policy's call (template.yaml: AnchorKey, only AnchorFunction's role)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

ALGORITHM = "HMAC_SHA_256"


class KmsMac:
    def __init__(self, kms: Any, key_id: str) -> None:
        self.kms, self.key_id = kms, key_id

    def generate(self, message: bytes) -> bytes:
        return bytes(self.kms.generate_mac(KeyId=self.key_id, MacAlgorithm=ALGORITHM, Message=message)["Mac"])

    def verify(self, message: bytes, mac: bytes) -> bool:
        """Whether ``mac`` is this key's MAC of ``message`` (KMS answers an invalid one with an error)."""
        if not mac:
            return False
        try:
            out = self.kms.verify_mac(KeyId=self.key_id, MacAlgorithm=ALGORITHM, Message=message, Mac=mac)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "KMSInvalidMacException":
                return False
            raise
        return bool(out.get("MacValid"))
