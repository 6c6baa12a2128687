"""Development PKI for signing and time-stamping C2PA manifests.

The certificates follow the C2PA certificate profile that c2pa-rs enforces:
an ES256 root CA, an end-entity signing certificate with the key usages and
extended key usages a claim signer needs, and a time-stamping authority (TSA)
certificate (extended key usage timeStamping alone, critical, as RFC 3161 asks)
with the OpenSSL configuration ``provenance.tsa`` answers RFC 3161 queries with.
Production signs with a CA-issued certificate and time-stamps with a real
authority instead; this PKI exists so that development and tests sign,
time-stamp and verify end to end, with the root as the trust anchor.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.secure_files import write_new_file

ROOT_CERT_FILE = "root_ca.pem"
ROOT_KEY_FILE = "root_ca.key"
SIGNER_KEY_FILE = "signer.key"
SIGNER_CHAIN_FILE = "signer_chain.pem"
TSA_KEY_FILE = "tsa.key"
TSA_CERT_FILE = "tsa.pem"
TSA_CONFIG_FILE = "tsa.cnf"
# The file OpenSSL reads a time-stamp's serial number from; provenance.tsa names a fresh one per reply.
TSA_SERIAL_ENV = "BESPOKE_TSA_SERIAL_FILE"
# The dev TSA's policy: an OID under the UUID arc (ITU-T X.667), unique without registration.
DEV_TSA_POLICY_OID = "2.25.331532272183492337100516723559007008760"

DOCUMENT_SIGNING_EKU = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
C2PA_CLAIM_SIGNING_EKU = x509.ObjectIdentifier("1.3.6.1.4.1.62558.2.1")

# Absorbs small clock differences between the machine that issues and the one that verifies.
_BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class DevPki:
    """Paths of a development PKI directory."""

    directory: Path

    @property
    def root_cert_path(self) -> Path:
        return self.directory / ROOT_CERT_FILE

    @property
    def root_key_path(self) -> Path:
        return self.directory / ROOT_KEY_FILE

    @property
    def signer_key_path(self) -> Path:
        return self.directory / SIGNER_KEY_FILE

    @property
    def signer_chain_path(self) -> Path:
        return self.directory / SIGNER_CHAIN_FILE

    @property
    def tsa_key_path(self) -> Path:
        return self.directory / TSA_KEY_FILE

    @property
    def tsa_cert_path(self) -> Path:
        return self.directory / TSA_CERT_FILE

    @property
    def tsa_config_path(self) -> Path:
        return self.directory / TSA_CONFIG_FILE


@dataclass(frozen=True)
class SigningMaterial:
    """What a C2PA signer needs: the certificate chain (leaf first) and its private key."""

    chain_pem: bytes
    private_key_pem: bytes = field(repr=False)
    alg: str = "es256"


def create_dev_pki(
    directory: Path, *, organisation: str = "Bespoke DEV", valid_days: int = 365
) -> DevPki:
    """Create a root CA, a C2PA signing certificate and a TSA certificate in ``directory``.

    Any existing content of ``directory`` is replaced. The files are written
    to a sibling temporary directory first and moved into place, so readers
    never see a partially written PKI.
    """
    directory = Path(directory)
    if valid_days < 1:
        raise ValueError("valid_days must be at least 1")
    not_before = dt.datetime.now(dt.timezone.utc) - _BACKDATE
    not_after = not_before + _BACKDATE + dt.timedelta(days=valid_days)

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_cert = _root_certificate(root_key, organisation, not_before, not_after)
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer_cert = _signer_certificate(
        signer_key, root_key, root_cert, organisation, not_before, not_after
    )
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa_cert = _tsa_certificate(tsa_key, root_key, root_cert, organisation, not_before, not_after)

    # The root is the trust anchor, so the signer chain holds only the leaf.
    public_files = {
        ROOT_CERT_FILE: root_cert.public_bytes(serialization.Encoding.PEM),
        SIGNER_CHAIN_FILE: signer_cert.public_bytes(serialization.Encoding.PEM),
        TSA_CERT_FILE: tsa_cert.public_bytes(serialization.Encoding.PEM),
        TSA_CONFIG_FILE: _tsa_openssl_config().encode("ascii"),
    }
    private_files = {
        ROOT_KEY_FILE: _private_key_pem(root_key),
        SIGNER_KEY_FILE: _private_key_pem(signer_key),
        TSA_KEY_FILE: _private_key_pem(tsa_key),
    }
    _install_directory(directory, public_files, private_files)
    return DevPki(directory)


def pki_is_usable(
    directory: Path,
    *,
    min_remaining: dt.timedelta = dt.timedelta(days=7),
    with_tsa: bool = True,
) -> bool:
    """True if ``directory`` holds a complete PKI whose certificates are valid ``min_remaining`` more.

    ``with_tsa`` asks for the dev time-stamping authority too (key, certificate, OpenSSL
    configuration), so a dev PKI made before it existed reads as unusable and is recreated;
    a production PKI, time-stamped by a real authority, is checked with ``with_tsa=False``.
    """
    pki = DevPki(Path(directory))
    pairs = [(pki.signer_chain_path, pki.signer_key_path)]
    others = [pki.root_cert_path, pki.root_key_path]
    if with_tsa:
        pairs.append((pki.tsa_cert_path, pki.tsa_key_path))
        others.append(pki.tsa_config_path)
    if not all(path.is_file() for path in (*others, *(path for pair in pairs for path in pair))):
        return False
    now = dt.datetime.now(dt.timezone.utc)
    return all(_key_pair_is_usable(cert, key, now, min_remaining) for cert, key in pairs)


def _key_pair_is_usable(
    cert_path: Path, key_path: Path, now: dt.datetime, min_remaining: dt.timedelta
) -> bool:
    """True if the (first) certificate of ``cert_path`` belongs to the key of ``key_path`` and is valid long enough."""
    try:
        leaf = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    if leaf.public_key() != key.public_key():
        return False
    return leaf.not_valid_before_utc <= now and leaf.not_valid_after_utc - now >= min_remaining


def load_signing_material(directory: Path) -> SigningMaterial:
    """Read the signer chain and private key from a PKI directory."""
    pki = DevPki(Path(directory))
    return SigningMaterial(
        chain_pem=pki.signer_chain_path.read_bytes(),
        private_key_pem=pki.signer_key_path.read_bytes(),
    )


def load_trust_anchor(directory: Path) -> str:
    """Return the root CA certificate of a PKI directory as PEM text."""
    return DevPki(Path(directory)).root_cert_path.read_text(encoding="ascii")


def _name(organisation: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, digital_signature: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _root_certificate(
    key: ec.EllipticCurvePrivateKey,
    organisation: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    name = _name(organisation, f"{organisation} Root CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def _signer_certificate(
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate,
    organisation: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    # C2PA 2.2 requires the claim-signing EKU for its trust list and recommends pairing it
    # with emailProtection or documentSigning so that older validators accept the certificate.
    eku = x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING_EKU, C2PA_CLAIM_SIGNING_EKU]
    )
    return _leaf_certificate(key, issuer_key, issuer, _name(organisation, f"{organisation} C2PA Signer"),
                             not_before, not_after, eku=eku, eku_critical=False)


def _tsa_certificate(
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate,
    organisation: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    # RFC 3161 2.3: the TSA's certificate has timeStamping as its only extended key usage, marked
    # critical; OpenSSL refuses to sign replies with any other, and c2pa checks the same.
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING])
    return _leaf_certificate(key, issuer_key, issuer, _name(organisation, f"{organisation} Time-Stamping Authority"),
                             not_before, not_after, eku=eku, eku_critical=True)


def _leaf_certificate(
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate,
    subject: x509.Name,
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    eku: x509.ExtendedKeyUsage,
    eku_critical: bool,
) -> x509.Certificate:
    """An end-entity certificate the dev root issues: signs, is no CA, has these extended key usages."""
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(eku, critical=eku_critical)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def _tsa_openssl_config() -> str:
    """The ``openssl ts -reply`` configuration of the dev TSA.

    Paths are relative to the PKI folder (OpenSSL runs there), so the folder may move. The
    serial file is named per reply through the environment: no reply shares one.
    """
    return f"""# The dev time-stamping authority of this PKI (provenance.tsa runs `openssl ts -reply` here).
[ tsa ]
default_tsa = bespoke_dev_tsa

[ bespoke_dev_tsa ]
serial = $ENV::{TSA_SERIAL_ENV}
crypto_device = builtin
signer_cert = ./{TSA_CERT_FILE}
signer_key = ./{TSA_KEY_FILE}
signer_digest = sha256
default_policy = {DEV_TSA_POLICY_OID}
digests = sha256, sha384, sha512
accuracy = secs:1
clock_precision_digits = 0
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _install_directory(
    directory: Path, public_files: Mapping[str, bytes], private_files: Mapping[str, bytes]
) -> None:
    """Write the files into a fresh owner-only directory and move it to ``directory``."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for name, data in public_files.items():
            write_new_file(staging / name, data, mode=0o644)
        for name, data in private_files.items():
            write_new_file(staging / name, data)
        _replace_directory(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_directory(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``, discarding whatever ``target`` held."""
    if not target.exists():
        new.rename(target)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    # A crash between the two renames leaves no PKI at ``target``, never a partial one.
    target.rename(retired / target.name)
    new.rename(target)
    shutil.rmtree(retired, ignore_errors=True)
