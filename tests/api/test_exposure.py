"""Data exposure: what each persona learns about a signature, and where its address comes from.

A signature's network evidence (IP address, user agent) is for the signer, the talent side
(Alice and Otto, her agent) and the licensee's legal staff (Dana, Erin) and auditors (Ida);
never for its producers (Bob). Charlie and the verifiers (Frank) do not see the license at all.
The address recorded is the client's as the rate limits count it (BESPOKE_TRUSTED_PROXY_COUNT).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import reverse

from core.client import client_address
from core.ratelimit import within_limit
from consent import desk, services
from consent.models import Membership, SignatureEvent
from consent.policies import may_see_signature_network_evidence
from tests.conftest import approve_representation, make_license, verify_identity

pytestmark = pytest.mark.django_db

NETWORK_FIELDS = {"ip_address", "user_agent"}
SIGNED_FROM = "198.51.100.7"
SIGNED_WITH = "Bespoke exposure agent"


@pytest.fixture
def signed_through_the_api(mfa_personas, api):  # type: ignore[no-untyped-def]
    """Alice signs and Dana countersigns through the API; Otto is Alice's verified agent and
    Ida an auditor of the licensee."""
    personas = mfa_personas
    users = get_user_model().objects
    personas.otto = users.create_user(username="otto", password="pw-otto-agent")
    personas.ida = users.create_user(username="ida", password="pw-ida-auditor")
    services.membership_add(organization=personas.studio, user=personas.ida, role=Membership.Role.AUDITOR,
                            acting_user=personas.dana)
    verify_identity(personas, personas.talent)
    approve_representation(personas, desk.representation_request(
        talent=personas.talent, representative=personas.otto, kind="agent", acting_user=personas.alice))
    license = make_license(personas, signed=False, countersigned=False)
    for name, action in (("alice", "license-sign"), ("dana", "license-countersign")):
        response = api(name).post(reverse(action, kwargs={"pk": license.id}),
                                  {"text_sha256": license.text_sha256, "disclosure_accepted": True}, format="json",
                                  headers={"User-Agent": SIGNED_WITH}, REMOTE_ADDR=SIGNED_FROM)
        assert response.status_code == 200, response.content
    return license


def _certificate(api, name: str, license, **query: str):  # type: ignore[no-untyped-def]
    return api(name).get(reverse("license-certificate", kwargs={"pk": license.id}), query)


@pytest.mark.parametrize("name", ["alice", "otto", "dana", "erin", "ida"])
def test_the_talent_side_and_the_licensees_legal_staff_and_auditors_see_where_each_signature_came_from(
        api, signed_through_the_api, name):
    response = _certificate(api, name, signed_through_the_api)
    assert response.status_code == 200
    signatures = response.json()["signatures"]
    assert [s["role"] for s in signatures] == ["talent", "licensee"]
    assert all((s["ip_address"], s["user_agent"]) == (SIGNED_FROM, SIGNED_WITH) for s in signatures)
    text = _certificate(api, name, signed_through_the_api, **{"as": "text"}).content.decode()
    assert text.count(f"from {SIGNED_FROM}") == 2 and text.count(f"user agent: {SIGNED_WITH}") == 2


def test_a_producer_gets_the_certificate_without_any_network_evidence(api, signed_through_the_api):
    response = _certificate(api, "bob", signed_through_the_api)
    assert response.status_code == 200
    signatures = response.json()["signatures"]
    assert len(signatures) == 2
    assert all(NETWORK_FIELDS.isdisjoint(signature) for signature in signatures)
    assert all(signature["authentication_method"] == "mfa" for signature in signatures)
    text = _certificate(api, "bob", signed_through_the_api, **{"as": "text"}).content
    assert SIGNED_FROM.encode() not in text and SIGNED_WITH.encode() not in text
    assert b"address" not in text and b"user agent" not in text and b"authentication: mfa" in text


@pytest.mark.parametrize("name", ["charlie", "frank"])
def test_outsiders_do_not_get_the_certificate_at_all(api, signed_through_the_api, name):
    assert _certificate(api, name, signed_through_the_api).status_code == 404


def test_a_signer_keeps_seeing_their_own_signatures_evidence_and_only_that_after_leaving_the_studio(
        mfa_personas, signed_through_the_api):
    license, dana = signed_through_the_api, mfa_personas.dana
    Membership.objects.filter(user=dana, organization=mfa_personas.studio).delete()
    seen = {event.role: may_see_signature_network_evidence(user=dana, license=license, signer_id=event.signer_id)
            for event in license.signatures.all()}
    assert seen == {"talent": False, "licensee": True}


# --- the client address a signature records ---------------------------------------------------

def _sign_from(api, personas, *, forwarded_for: str,  # type: ignore[no-untyped-def]
               remote_addr: str = "10.0.0.1") -> SignatureEvent:
    license = make_license(personas, signed=False, countersigned=False)
    response = api("alice").post(reverse("license-sign", kwargs={"pk": license.id}),
                                 {"text_sha256": license.text_sha256, "disclosure_accepted": True}, format="json",
                                 headers={"X-Forwarded-For": forwarded_for}, REMOTE_ADDR=remote_addr)
    assert response.status_code == 200, response.content
    return SignatureEvent.objects.get(license=license)


def test_behind_one_trusted_proxy_the_signature_records_the_address_that_proxy_saw(mfa_personas, api, settings):
    """The proxy appends the address it received the request from: the last entry. Whatever
    is left of it came from the client and may be forged, as the rate limits count it too."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    event = _sign_from(api, mfa_personas, forwarded_for="203.0.113.9, 10.0.0.2")
    assert event.ip_address == "10.0.0.2"
    request = RequestFactory().get("/", headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.2"}, REMOTE_ADDR="10.0.0.1")
    assert client_address(request) == event.ip_address


def test_behind_two_trusted_proxies_the_signature_records_the_second_entry_from_the_right(
        mfa_personas, api, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    event = _sign_from(api, mfa_personas, forwarded_for="198.51.100.66, 203.0.113.9, 10.0.0.2")
    assert event.ip_address == "203.0.113.9"


def test_without_trusted_proxies_a_forged_forwarded_for_header_is_ignored(mfa_personas, api, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    event = _sign_from(api, mfa_personas, forwarded_for="203.0.113.9", remote_addr="192.0.2.44")
    assert event.ip_address == "192.0.2.44"


def test_the_rate_limit_counts_the_same_client_the_signature_records(settings, empty_cache):
    """Two requests through the proxy from different forged prefixes are one client to both."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    requests = [RequestFactory().get("/", headers={"X-Forwarded-For": f"{forged}, 203.0.113.9"}, REMOTE_ADDR="10.0.0.1")
                for forged in ("192.0.2.1", "192.0.2.2")]
    assert {client_address(request) for request in requests} == {"203.0.113.9"}
    assert within_limit(requests[0], scope="exposure-test", per_minute=1) is True
    assert within_limit(requests[1], scope="exposure-test", per_minute=1) is False


def test_the_rate_limit_counts_an_ipv6_client_by_its_network(settings, empty_cache):
    """A host owns its whole /64: rotating through it gives no fresh allowance, another network has its own."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0

    def request(address: str):  # type: ignore[no-untyped-def]
        return RequestFactory().get("/", REMOTE_ADDR=address)

    assert within_limit(request("2001:db8:0:1::1"), scope="exposure-v6", per_minute=1) is True
    assert within_limit(request("2001:db8:0:1:ffff::2"), scope="exposure-v6", per_minute=1) is False
    assert within_limit(request("2001:db8:0:2::1"), scope="exposure-v6", per_minute=1) is True


def test_a_request_that_skipped_the_trusted_proxies_is_refused_not_crashed(mfa_personas, api, settings):
    """Two trusted proxies but one X-Forwarded-For entry: the request came round them."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    license = make_license(mfa_personas, signed=False, countersigned=False)
    response = api("alice").post(reverse("license-sign", kwargs={"pk": license.id}),
                                 {"text_sha256": license.text_sha256, "disclosure_accepted": True}, format="json",
                                 headers={"X-Forwarded-For": "203.0.113.9"}, REMOTE_ADDR="10.0.0.1")
    assert response.status_code == 403, response.content
    assert not SignatureEvent.objects.filter(license=license).exists()
