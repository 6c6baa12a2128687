"""The certificate of completion of a license: who signed what, when, where and how."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from consent.models import LikenessLicense, Representation, SignatureEvent
from consent.policies import may_see_signature_network_evidence


def certificate_of_completion(license: LikenessLicense, *, viewer: AbstractBaseUser) -> dict[str, Any]:
    """The certificate as ``viewer`` may see it: each signature's network evidence (IP address
    and user agent) is left out for whoever the policy does not show it to."""
    return {
        "license": str(license.id),
        "version": license.version,
        "status": license.status,
        "document_sha256": license.text_sha256,
        "talent": license.talent.display_name,
        "licensee": license.licensee.name,
        "term": {"starts_on": license.starts_on.isoformat(), "ends_on": license.ends_on.isoformat()},
        "signatures": [_signature(license, event, viewer) for event in
                       license.signatures.select_related("signer", "representation").order_by("signed_at")],
        "status_url": f"{settings.BESPOKE_PUBLIC_URL}/verify/consent/{license.id}",
    }


def _signature(license: LikenessLicense, event: SignatureEvent, viewer: AbstractBaseUser) -> dict[str, Any]:
    signature = {
        "role": event.role, "signer": event.signer.get_full_name() or event.signer.get_username(),
        "signed_at": event.signed_at.isoformat(), "authentication_method": event.authentication_method,
        "disclosure_version": event.disclosure_version,
        "disclosure_accepted_at": event.disclosure_accepted_at.isoformat(),
        "document_sha256": event.document_sha256, "document_matches": event.document_sha256 == license.text_sha256,
        "intent": event.intent, "representation": _representation(event.representation),
    }
    if may_see_signature_network_evidence(user=viewer, license=license, signer_id=event.signer_id):
        signature.update(ip_address=event.ip_address, user_agent=event.user_agent)
    return signature


def _representation(representation: Representation | None) -> dict[str, Any] | None:
    """The verified authority a guardian or an estate signed under."""
    if representation is None:
        return None
    return {"id": str(representation.id), "kind": representation.kind,
            "verified_at": representation.decided_at.isoformat() if representation.decided_at else None,
            "valid_until": representation.valid_until.isoformat() if representation.valid_until else None}


def certificate_text(certificate: dict[str, Any]) -> str:
    lines = [
        "CERTIFICATE OF COMPLETION",
        "",
        f"License: {certificate['license']} (version {certificate['version']}, {certificate['status']})",
        f"Document SHA-256: {certificate['document_sha256']}",
        f"Talent: {certificate['talent']}",
        f"Licensee: {certificate['licensee']}",
        f"Term: {certificate['term']['starts_on']} to {certificate['term']['ends_on']}",
        f"Verify: {certificate['status_url']}",
        "",
    ]
    for event in certificate["signatures"]:
        shows_network = "ip_address" in event
        lines += [
            f"Signature ({event['role']}): {event['signer']}",
            f"  signed at {event['signed_at']}"
            + (f" from {event['ip_address'] or 'unknown address'}" if shows_network else ""),
            f"  authentication: {event['authentication_method']}"
            + (f"; user agent: {event['user_agent'] or 'unknown'}" if shows_network else ""),
            f"  electronic-records disclosure {event['disclosure_version']} accepted at {event['disclosure_accepted_at']}",
            f"  signed document SHA-256 {event['document_sha256']} "
            f"({'matches' if event['document_matches'] else 'DOES NOT MATCH'} the license)",
            f"  intent: \"{event['intent']}\"",
        ]
        if event["representation"]:
            authority = event["representation"]
            lines.append(f"  signed as {authority['kind']} under representation {authority['id']}, verified by two "
                         f"verifiers of the desk on {authority['verified_at']}")
        lines.append("")
    return "\n".join(lines)
