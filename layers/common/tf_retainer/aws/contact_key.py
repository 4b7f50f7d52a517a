"""A screened lead's phone number, sealed with a KMS key (the ContactSeal port): the number is screened at
intake from the request, and again at a retry or at call time from this, never stored in clear.

The lead's id is the encryption context, so a sealed number opens only for its own lead (a copy moved to
another lead's item fails to decrypt), and CloudTrail shows which lead's number each Decrypt opened.
"""

from __future__ import annotations

import base64
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tf_retainer.ports.screening import SealUnavailable


class KmsContactSeal:
    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms, self._key_id = kms, key_id

    def seal(self, national: str, lead_id: str) -> str:
        try:
            out = self._kms.encrypt(
                KeyId=self._key_id, Plaintext=national.encode(), EncryptionContext={"lead_id": lead_id}
            )
        except (BotoCoreError, ClientError) as exc:
            raise SealUnavailable(f"encrypt: {type(exc).__name__}") from exc
        return base64.b64encode(out["CiphertextBlob"]).decode()

    def unseal(self, sealed: str, lead_id: str) -> str:
        try:
            out = self._kms.decrypt(
                CiphertextBlob=base64.b64decode(sealed), KeyId=self._key_id, EncryptionContext={"lead_id": lead_id}
            )
        except (BotoCoreError, ClientError, ValueError) as exc:
            raise SealUnavailable(f"decrypt: {type(exc).__name__}") from exc
        return bytes(out["Plaintext"]).decode()
