"""Monitor URL tokens: capabilities derived from the server secret, stored only as hashes.

A token is HMAC-SHA256(secret, operation id), 192 bits, so the server can hand the same monitor
URL out again (idempotent retries, the owner's operation list) without keeping the token: at
rest there is only its SHA-256. Revoking a monitor clears the stored hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


class MonitorTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def __repr__(self) -> str:
        return "MonitorTokens(<secret>)"

    def issue(self, operation_id: str) -> str:
        mac = hmac.new(self._secret, b"monitor:" + operation_id.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:24]).decode()

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
