"""A list of licenses is a summary: every term, the state and the signatures of each license,
without the contract's full text, which the license itself gives with the hash it is signed by."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from tests.conftest import make_license

pytestmark = pytest.mark.django_db


def test_a_producer_s_list_summarises_each_license_and_the_license_itself_has_the_text(mfa_personas, api):
    signed = make_license(mfa_personas)
    draft = make_license(mfa_personas, verified=False, offered=False, signed=False, countersigned=False,
                         project="Harbour Lights")

    listed = {item["id"]: item for item in api("bob").get(reverse("license-list")).json()["results"]}

    assert set(listed) == {str(signed.pk), str(draft.pk)}
    summary = listed[str(signed.pk)]
    assert "text" not in summary and "revocation_effects" not in summary
    assert summary["text_sha256"] == signed.text_sha256 and summary["state"] == "active"
    assert [signature["role"] for signature in summary["signatures"]] == ["talent", "licensee"]
    assert listed[str(draft.pk)]["signatures"] == [] and listed[str(draft.pk)]["project"] == "Harbour Lights"

    detail = api("bob").get(reverse("license-detail", args=[signed.pk])).json()
    assert hashlib.sha256(detail["text"].encode()).hexdigest() == summary["text_sha256"]
    assert detail["revocation_effects"] and detail["signatures"] == summary["signatures"]
    assert {key: value for key, value in detail.items() if key not in ("text", "revocation_effects")} == summary


def test_the_api_schema_documents_the_list_as_summaries(mfa_personas, api):
    document = api(None).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    listed = document["paths"]["/api/v1/licenses/"]["get"]["responses"]["200"]["content"]["application/json"]
    page = document["components"]["schemas"][listed["schema"]["$ref"].rsplit("/", 1)[1]]
    summary = document["components"]["schemas"][page["properties"]["results"]["items"]["$ref"].rsplit("/", 1)[1]]
    detail = document["paths"]["/api/v1/licenses/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]
    license = document["components"]["schemas"][detail["schema"]["$ref"].rsplit("/", 1)[1]]
    assert "text" in license["properties"] and "text" not in summary["properties"]
    assert set(license["properties"]) - set(summary["properties"]) == {"text", "revocation_effects"}
