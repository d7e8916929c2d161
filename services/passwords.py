"""Password hashing with the standard library's scrypt (memory-hard, salted, no extra dependency).

``verify_password`` costs the same whether or not there is a stored hash: with none (an unknown
e-mail, a person without a password) it hashes against a dummy, so the time a sign-in takes does
not tell whether an account exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1
_DUMMY_SALT = secrets.token_bytes(16)

MIN_LENGTH = 12
MAX_LENGTH = 256


def _scrypt(password: str, salt: bytes, dklen: int = 32) -> bytes:
    return hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=_N, r=_R, p=_P, dklen=dklen)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt)
    return "scrypt$" + "$".join(base64.b64encode(x).decode() for x in (salt, digest))


def verify_password(password: str, stored: str | None) -> bool:
    parts = stored.split("$") if stored else []
    if len(parts) != 3 or parts[0] != "scrypt":
        _scrypt(password, _DUMMY_SALT)  # same cost as a real check: no timing oracle
        return False
    salt, digest = base64.b64decode(parts[1]), base64.b64decode(parts[2])
    candidate = _scrypt(password, salt, dklen=len(digest))
    return hmac.compare_digest(candidate, digest)
