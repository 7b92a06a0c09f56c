"""WXBizMsgCrypt-compatible callback crypto for WeCom, on ``cryptography`` primitives.

Scheme (WeCom's own samples): signature = sha1 of the sorted [token, timestamp, nonce, encrypt];
AES-256-CBC with key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7 padded to 32 bytes;
plaintext = random(16) + msg_len (4 bytes, network order) + msg + receive_id. The intelligent
robot uses receive_id "", an app callback the CorpID.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeCom pads PKCS#7 to multiples of 32 bytes


class WecomCryptoError(Exception):
    """A callback that fails verification or decryption (answer 4xx, store nothing)."""


def sign(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """The ``msg_signature`` of a callback: hex sha1 of the sorted, joined strings."""
    parts = sorted([token, str(timestamp), str(nonce), encrypt])
    return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()


def decode_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey; raises WecomCryptoError if invalid."""
    if len(encoding_aes_key) != 43:
        raise WecomCryptoError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise WecomCryptoError("EncodingAESKey is not base64") from None
    if len(key) != 32:
        raise WecomCryptoError("EncodingAESKey does not decode to 32 bytes")
    return key


class WecomCrypto:
    """Verify, decrypt and encrypt WeCom callbacks for one token/key/receive id."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str = "") -> None:
        self.token = token
        self.receive_id = receive_id
        self.key = decode_key(encoding_aes_key)
        self.iv = self.key[:16]

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.iv))

    def check(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """Raise unless ``msg_signature`` signs (timestamp, nonce, encrypt) with our token."""
        expected = sign(self.token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), str(msg_signature).lower().encode()):
            raise WecomCryptoError("signature mismatch")

    def encrypt(self, plaintext: str, random16: bytes | None = None) -> str:
        """Encrypt ``plaintext`` (for passive replies and tests) as base64."""
        msg = plaintext.encode("utf-8")
        nonce = random16 if random16 is not None else os.urandom(16)
        raw = nonce + struct.pack("!I", len(msg)) + msg + self.receive_id.encode("utf-8")
        pad = BLOCK - len(raw) % BLOCK
        raw += bytes([pad]) * pad
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(raw) + enc.finalize()).decode("ascii")

    def decrypt(self, encrypted_b64: str) -> str:
        """Decrypt; rejects bad base64, bad length, bad padding and a foreign receive id."""
        try:
            data = base64.b64decode(encrypted_b64, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise WecomCryptoError("not base64") from None
        if not data or len(data) % 16:
            raise WecomCryptoError("ciphertext length is not a multiple of the AES block")
        dec = self._cipher().decryptor()
        raw = dec.update(data) + dec.finalize()
        pad = raw[-1]
        if not 1 <= pad <= BLOCK or pad > len(raw) or raw[-pad:] != bytes([pad]) * pad:
            raise WecomCryptoError("bad padding")
        raw = raw[:-pad]
        if len(raw) < 20:
            raise WecomCryptoError("plaintext too short")
        (length,) = struct.unpack("!I", raw[16:20])
        if 20 + length > len(raw):
            raise WecomCryptoError("message length out of range")
        receive_id = raw[20 + length :]
        if not hmac.compare_digest(receive_id, self.receive_id.encode("utf-8")):
            raise WecomCryptoError("receive id mismatch")
        try:
            return raw[20 : 20 + length].decode("utf-8")
        except UnicodeDecodeError:
            raise WecomCryptoError("message is not UTF-8") from None

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """URL verification: the decrypted echostr, to be answered as text/plain."""
        self.check(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt_msg(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> str:
        """A callback body's ``encrypt`` field, verified and decrypted."""
        self.check(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def encrypt_json_reply(
        self, plaintext_json: str, nonce: str, timestamp: str | None = None
    ) -> dict[str, object]:
        """A passive-reply envelope ``{encrypt, msgsignature, timestamp, nonce}``."""
        ts = timestamp or str(int(time.time()))
        enc = self.encrypt(plaintext_json)
        return {
            "encrypt": enc,
            "msgsignature": sign(self.token, ts, nonce, enc),
            "timestamp": int(ts),
            "nonce": nonce,
        }
