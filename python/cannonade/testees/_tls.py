"""``--tls`` for the Twisted testees: a CA and a server certificate made at start-up.

The certificate is issued for ``localhost``, ``127.0.0.1`` and ``::1`` by a fresh CA of
its own name, whose PEM is written to ``--cert-out FILE`` (or a file in the temporary
directory, named on stderr) for clients to trust (``cannonade --cacert FILE``). The
keys never leave the process. Needs pyOpenSSL (Twisted's TLS) and cryptography, both in
the ``testees`` extra.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys
import tempfile
import time
from typing import Any, Optional

#: Names the server certificate is issued for.
NAMES = ("localhost", "127.0.0.1", "::1")


def _certificates() -> tuple[Any, Any, Any]:
    """A CA certificate, a server certificate it signed, and the server's key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    # A name of its own, so that another testee's CA is no issuer of this certificate.
    ca_name = x509.Name(
        [
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"cannonade testee CA {os.getpid()} {time.time_ns()}"
            )
        ]
    )
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in NAMES[1:]]
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cannonade testee")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca, cert, key


def context_factory(cert_out: Optional[str], alpn: tuple[bytes, ...] = ()) -> Any:
    """Twisted's TLS options for a new certificate; its CA's PEM goes to ``cert_out``."""
    from cryptography.hazmat.primitives import serialization
    from OpenSSL import crypto
    from twisted.internet import ssl

    ca, cert, key = _certificates()
    pem = ca.public_bytes(serialization.Encoding.PEM)
    if cert_out is None:
        fd, cert_out = tempfile.mkstemp(prefix="cannonade-testee-", suffix="-ca.pem")
        os.close(fd)
    with open(cert_out, "wb") as file:
        file.write(pem)
    # stdout keeps its one line; the file's name goes to stderr.
    print(
        f"tls: the CA certificate is in {cert_out} (trust it with --cacert {cert_out})",
        file=sys.stderr,
        flush=True,
    )
    return ssl.CertificateOptions(
        privateKey=crypto.PKey.from_cryptography_key(key),
        certificate=crypto.X509.from_cryptography(cert),
        extraCertChain=[crypto.X509.from_cryptography(ca)],
        # Session tickets on, so that clients may resume (cannonade --tls-resume).
        enableSessionTickets=True,
        acceptableProtocols=list(alpn) or None,
    )
