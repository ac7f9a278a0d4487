"""Check a captured message's DKIM signature with an independent verifier (dkimpy).

Usage: python3 scripts/dkim_verify.py MESSAGE.eml PUBLIC_KEY.der DOMAIN SELECTOR ALGORITHM

PUBLIC_KEY.der is the signer's public key as DER SubjectPublicKeyInfo
(`openssl pkey -in KEY -pubout -outform DER`); ALGORITHM is `ed25519` or `rsa`. Instead of DNS,
the verifier is handed the TXT record that the domain would publish at
SELECTOR._domainkey.DOMAIN. The message must verify as captured, and must no longer verify once
one character of its body (or its Subject) is changed. Exits non-zero on any failure.
"""

import base64
import logging
import re
import sys

import dkim
from dkim.util import parse_tag_value

# DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte raw key follows (RFC 8410).
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
REQUIRED_HEADERS = {b"from", b"to", b"subject", b"date", b"message-id"}


def txt_record(spki: bytes, algorithm: str) -> bytes:
    if algorithm == "ed25519":
        assert spki.startswith(ED25519_SPKI_PREFIX) and len(spki) == 44, "not an Ed25519 key"
        # RFC 8463: p= is the base64 of the raw 32-byte public key.
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(spki[len(ED25519_SPKI_PREFIX):])
    if algorithm == "rsa":
        return b"v=DKIM1; k=rsa; p=" + base64.b64encode(spki)
    raise SystemExit(f"unknown algorithm {algorithm!r}")


def verify(message: bytes, dns_name: bytes, record: bytes, log: logging.Logger) -> bool:
    asked = []

    def dnsfunc(name, timeout=5):
        asked.append(name)
        return record if name == dns_name else None

    ok = dkim.verify(message, logger=log, dnsfunc=dnsfunc, minkey=1024)
    if ok and asked != [dns_name]:
        raise AssertionError(f"verifier looked up {asked!r}, expected {dns_name!r}")
    return bool(ok)


def tamper_body(message: bytes) -> bytes:
    """Change one letter in the second half of the body (not whitespace, which relaxed
    canonicalisation ignores)."""
    split = message.index(b"\r\n\r\n") + 4
    body = message[split:]
    for i in range(len(body) // 2, len(body)):
        c = body[i : i + 1]
        if c.isalpha():
            swapped = b"b" if c != b"b" else b"c"
            return message[: split + i] + swapped + message[split + i + 1 :]
    raise AssertionError("no letter to change in the body")


def tamper_subject(message: bytes) -> bytes:
    changed, n = re.subn(rb"(?im)^(Subject:[ \t]*)", rb"\1X", message, count=1)
    assert n == 1, "no Subject header"
    return changed


def main() -> int:
    eml, pub, domain, selector, algorithm = sys.argv[1:6]
    message = open(eml, "rb").read()
    spki = open(pub, "rb").read()
    logging.basicConfig(format="dkimpy: %(message)s")
    log = logging.getLogger("dkim_verify")
    # Failures of the tampered copies are expected: keep dkimpy quiet about them.
    quiet = logging.getLogger("dkim_verify.tampered")
    quiet.disabled = True
    failures = []

    sigs = re.findall(rb"(?im)^DKIM-Signature:((?:.*\r?\n)(?:[ \t].*\r?\n)*)", message)
    if len(sigs) != 1:
        print(f"FAIL: expected one DKIM-Signature header, found {len(sigs)}")
        return 1
    tags = parse_tag_value(re.sub(rb"\r?\n", b"", sigs[0]))
    expected = {b"v": b"1", b"a": f"{algorithm}-sha256".encode(), b"d": domain.encode(),
                b"s": selector.encode()}
    for k, v in expected.items():
        if tags.get(k) != v:
            failures.append(f"{k.decode()}={tags.get(k)!r}, expected {v!r}")
    signed = {h.strip().lower() for h in tags.get(b"h", b"").split(b":")}
    if not REQUIRED_HEADERS <= signed:
        failures.append(f"h= lacks {sorted(REQUIRED_HEADERS - signed)}")

    dns_name = f"{selector}._domainkey.{domain}.".encode()
    record = txt_record(spki, algorithm)
    if not verify(message, dns_name, record, log):
        failures.append("the signature of the message as received does not verify")
    if verify(tamper_body(message), dns_name, record, quiet):
        failures.append("a message whose body was changed still verifies")
    if verify(tamper_subject(message), dns_name, record, quiet):
        failures.append("a message whose Subject was changed still verifies")

    for f in failures:
        print(f"FAIL ({algorithm}): {f}")
    if failures:
        return 1
    print(f"ok ({algorithm}): d={domain} s={selector} verified; body and Subject tampering detected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
