"""Who signs manifests: a key provider the platform asks for a C2PA signer.

Bespoke never needs the private key itself, only something that can sign the
COSE structure c2pa hands over. Two providers ship:

* ``LocalKeySigner``: a PEM private key on disk (the development CA's signer,
  or a CA-issued key mounted as a file).
* ``CallbackSigner``: a function ``sign(data) -> signature``, so an HSM or a
  cloud KMS signs and the key never leaves it. The certificate chain is public.

The setting ``BESPOKE_SIGNER`` names which provider the platform uses
(``provenance.services.configured_signer``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from c2pa import C2paSignerInfo, C2paSigningAlg, Signer

from provenance.pki import SigningMaterial

ALGORITHMS = {alg.name.lower(): alg for alg in C2paSigningAlg}


class ManifestSigner(Protocol):
    """A source of C2PA signers; one is asked for each signature."""

    @property
    def chain_pem(self) -> bytes: ...

    def c2pa_signer(self, *, tsa_url: str | None) -> Signer: ...


def _algorithm(name: str) -> C2paSigningAlg:
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown signing algorithm {name!r}; use one of {', '.join(sorted(ALGORITHMS))}") from None


@dataclass(frozen=True)
class LocalKeySigner:
    """Signs with a private key held in memory (read from a PEM file)."""

    material: SigningMaterial

    @property
    def chain_pem(self) -> bytes:
        return self.material.chain_pem

    def c2pa_signer(self, *, tsa_url: str | None) -> Signer:
        _algorithm(self.material.alg)
        info = C2paSignerInfo(self.material.alg, self.material.chain_pem, self.material.private_key_pem, tsa_url)
        return Signer.from_info(info)


@dataclass(frozen=True)
class CallbackSigner:
    """Signs through ``sign``, e.g. an HSM or a KMS call; the key never enters Bespoke.

    ``sign`` receives the bytes to be signed and returns the signature (for ES256,
    DER or raw r||s). Any exception it raises makes the signing fail cleanly.
    """

    sign: Callable[[bytes], bytes] = field(repr=False)
    chain_pem: bytes
    alg: str = "es256"

    def c2pa_signer(self, *, tsa_url: str | None) -> Signer:
        return Signer.from_callback(self.sign, _algorithm(self.alg), self.chain_pem.decode("ascii"), tsa_url)
