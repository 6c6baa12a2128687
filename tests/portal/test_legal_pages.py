"""Legal staff's portal pages: drafting from templates, templates, suspensions, the audit log
and the compliance report as PDF. Scope is 404; errors are shown beside their fields."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.checkpoints import audit_checkpoint_write
from audit.db_guard import audit_maintenance
from audit.models import AuditEvent
from audit.selectors import audit_events_newest_first, audit_events_search
from audit.services import audit_append
from consent import gate, services
from consent.license_templates import BUILT_IN, license_template_create
from consent.models import LicenseSuspension, LicenseTemplate, LikenessLicense, Membership
from generation.services import render as renders
from tests.conftest import SMALL_RENDER, make_license, verify_identity

pytestmark = pytest.mark.django_db

FEATURE, ADVERTISING = (template["name"] for template in BUILT_IN)


@pytest.fixture(autouse=True)
def isolated_checkpoints(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.BESPOKE_AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"
    settings.BESPOKE_AUDIT_CHECKPOINT_KEY = tmp_path / "keys" / "audit-checkpoint.key"
    settings.BESPOKE_AUDIT_CHECKPOINT_PUBLIC_KEY = None


@pytest.fixture(autouse=True)
def alice_verified(personas):  # type: ignore[no-untyped-def]
    """The verification desk has verified Alice (a studio drafts a license only for a verified talent)."""
    return verify_identity(personas, personas.talent)


def _client(client, user):  # type: ignore[no-untyped-def]
    from accounts.services import totp_enrol

    totp_enrol(user=user)
    client.force_login(user)
    return client


def _member(django_user_model, organization, role: str, name: str):  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_user(username=name, password="pw-" + name * 3)
    Membership.objects.create(user=user, organization=organization, role=role)
    return user


def _field(page: str, name: str) -> str:
    """The errors shown beside one form field (the list its input or fieldset is described by)."""
    match = re.search(rf'<ul class="errorlist" id="id_{name}_error">(.*?)</ul>', page, re.DOTALL)
    assert match and f'aria-describedby="id_{name}_error"' in page, f"no error shown beside {name}"
    return match.group(1)


def _template(personas, name: str = FEATURE) -> LicenseTemplate:  # type: ignore[no-untyped-def]
    return LicenseTemplate.objects.get(organization=personas.studio, name=name)


def _draft_post(personas, **changes: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    data: dict[str, object] = {
        "licensee": str(personas.studio.id), "talent": str(personas.talent.id), "project": "Night Market",
        "role": "Mara", "use_description": "Lead role 'Mara' in the short film Night Market: walking and close-ups.",
        "permitted_media": ["video"], "territories": "FR, us", "languages": "en fr", "excluded_categories": ["sexual"],
        "max_renders": "5", "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=90)).isoformat(),
        "representation": "none", "compensation_basis": "flat", "compensation_rate": "1200",
        "compensation_currency": "eur", "offer": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


# --- templates and drafting --------------------------------------------------------------

def test_every_new_organisation_starts_with_the_built_in_templates(personas):
    for organization in (personas.studio, personas.other_studio):
        assert sorted(organization.license_templates.values_list("name", flat=True)) == sorted([FEATURE, ADVERTISING])
    advertising = _template(personas, ADVERTISING)
    assert advertising.requires_use_approval and advertising.advertising and advertising.term_months == 3
    assert AuditEvent.objects.filter(action="license_template.created").count() == 4


def test_the_drafting_form_is_filled_from_the_chosen_template(client, personas):
    template = _template(personas)
    response = _client(client, personas.dana).get(reverse("portal-license-draft"),
                                                  {"template": template.id, "talent": personas.talent.id})
    assert response.status_code == 200
    form = response.context["form"]
    today = timezone.localdate()
    assert form.initial["role"] == "Principal role" and form.initial["use_description"] == template.use_description
    assert form.initial["starts_on"] == today and form.initial["ends_on"] == today + relativedelta(months=12)
    assert form.initial["territories"] == "worldwide" and form.initial["talent"] == str(personas.talent.id)
    page = response.content.decode()
    assert 'value="Principal role"' in page and f'value="{(today + relativedelta(months=12)).isoformat()}"' in page


def test_drafting_and_offering_makes_an_offered_license_with_the_terms_as_edited(client, personas):
    response = _client(client, personas.dana).post(reverse("portal-license-draft"), _draft_post(personas))
    license = LikenessLicense.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("portal-license", args=[license.id])
    assert license.status == LikenessLicense.Status.OFFERED and license.licensee == personas.studio
    assert (license.territories, license.languages, license.compensation_currency) == (["FR", "US"], ["en", "fr"], "EUR")
    assert license.drafted_by == personas.dana and license.max_renders == 5
    assert list(AuditEvent.objects.filter(subject=f"license:{license.id}").values_list("action", flat=True)) == \
        ["license.drafted", "license.offered"]


def test_without_the_offer_box_the_license_stays_a_draft(client, personas):
    _client(client, personas.dana).post(reverse("portal-license-draft"), _draft_post(personas, offer=None))
    assert LikenessLicense.objects.get().status == LikenessLicense.Status.DRAFT


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"use_description": "Short."}, "use_description", "Describe the use specifically"),
    ({"territories": "France"}, "territories", "ISO country codes"),
    ({"languages": ""}, "languages", "Give at least one language."),
    ({"ends_on": "2001-01-01", "starts_on": "2001-02-01"}, "ends_on", "must end after it starts"),
    ({"max_renders": "0"}, "max_renders", "greater than or equal to 1"),
    ({"representation": "union"}, "representation_detail", "Name the counsel or the union agreement."),
    ({"compensation_currency": "E"}, "compensation_currency", "ISO 4217"),
])
def test_a_refused_draft_shows_the_error_beside_its_field_and_stores_nothing(client, personas, changes, field,
                                                                            message):
    before = AuditEvent.objects.count()
    response = _client(client, personas.dana).post(reverse("portal-license-draft"), _draft_post(personas, **changes))
    assert response.status_code == 400
    assert message in _field(response.content.decode(), field)
    assert not LikenessLicense.objects.exists() and AuditEvent.objects.count() == before


def test_an_offer_that_is_refused_leaves_no_draft_behind(client, personas, monkeypatch):
    from core.errors import InvalidTransition

    def refuse(**_: object) -> None:
        raise InvalidTransition("Offers are paused for this studio.")

    monkeypatch.setattr(services, "license_offer", refuse)
    response = _client(client, personas.dana).post(reverse("portal-license-draft"), _draft_post(personas))
    assert response.status_code == 400 and not LikenessLicense.objects.exists()
    assert "Not offered, so not drafted either: Offers are paused for this studio." in _field(
        response.content.decode(), "offer")
    client.post(reverse("portal-license-draft"), _draft_post(personas, offer=None))
    assert LikenessLicense.objects.get().status == LikenessLicense.Status.DRAFT


@pytest.mark.parametrize("persona", ["alice", "bob", "charlie"])
def test_only_legal_staff_reach_drafting_and_templates(client, personas, persona):
    user = getattr(personas, persona)
    client = _client(client, user)
    template = _template(personas)
    for url in (reverse("portal-license-draft"), reverse("portal-templates"), reverse("portal-template-create"),
                reverse("portal-template-edit", args=[template.id])):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("portal-license-draft"), _draft_post(personas)).status_code == 404
    assert client.post(reverse("portal-template-archive", args=[template.id])).status_code == 404
    assert not LikenessLicense.objects.exists() and _template(personas).archived_at is None


def test_legal_of_another_organisation_cannot_see_or_use_its_templates(client, personas, django_user_model):
    oscar = _member(django_user_model, personas.other_studio, Membership.Role.LEGAL, "oscar")
    template = _template(personas)
    client = _client(client, oscar)
    assert client.get(reverse("portal-template-edit", args=[template.id])).status_code == 404
    assert client.post(reverse("portal-template-archive", args=[template.id])).status_code == 404
    assert client.get(reverse("portal-license-draft"), {"template": template.id}).status_code == 404
    listed = client.get(reverse("portal-templates")).context["templates"]
    assert {t.organization_id for t in listed} == {personas.other_studio.id}
    # A licensee outside their own organisations is not a choice.
    response = client.post(reverse("portal-license-draft"), _draft_post(personas))
    assert response.status_code == 400 and "not one of the available choices" in _field(response.content.decode(),
                                                                                          "licensee")
    assert not LikenessLicense.objects.exists()


def test_templates_are_created_edited_and_archived_by_legal_with_an_audit_trail(client, personas):
    client = _client(client, personas.dana)
    fields = {**_draft_post(personas), "organization": str(personas.studio.id), "name": "Music video, 6 months",
              "description": "One music video.", "term_months": "6", "project": "", "role": ""}
    assert client.post(reverse("portal-template-create"), fields).status_code == 302
    template = LicenseTemplate.objects.get(name="Music video, 6 months")
    assert template.project == "" and template.territories == ["FR", "US"] and template.term_months == 6

    del fields["organization"]  # a template stays in its organisation
    response = client.post(reverse("portal-template-edit", args=[template.id]), {**fields, "name": FEATURE})
    assert response.status_code == 400 and "already has that name" in _field(response.content.decode(), "name")
    response = client.post(reverse("portal-template-edit", args=[template.id]), {**fields, "term_months": "600"})
    assert response.status_code == 400 and "at most 10 years" in _field(response.content.decode(), "term_months")
    assert client.post(reverse("portal-template-edit", args=[template.id]),
                       {**fields, "max_renders": "9"}).status_code == 302
    template.refresh_from_db()
    assert template.max_renders == 9

    assert client.post(reverse("portal-template-archive", args=[template.id])).status_code == 302
    template.refresh_from_db()
    assert template.archived_at is not None
    assert template not in client.get(reverse("portal-license-draft")).context["templates"]
    assert client.get(reverse("portal-template-edit", args=[template.id])).status_code == 404
    events = AuditEvent.objects.filter(subject=f"license_template:{template.id}").order_by("seq")
    assert list(events.values_list("action", flat=True)) == ["license_template.created", "license_template.updated",
                                                             "license_template.archived"]
    assert '"fields":["max_renders"]' in events[1].body and "Music video" not in events[0].body


def test_a_template_error_is_shown_beside_its_field(client, personas):
    fields = {**_draft_post(personas), "organization": str(personas.studio.id), "name": "", "term_months": "0",
              "use_description": "Too short."}
    response = _client(client, personas.dana).post(reverse("portal-template-create"), fields)
    page = response.content.decode()
    assert response.status_code == 400 and "Give the template a name." in _field(page, "name")
    assert "greater than or equal to 1" in _field(page, "term_months")
    response = client.post(reverse("portal-template-create"), {**fields, "name": "Short", "term_months": "3"})
    assert "Describe the use specifically" in _field(response.content.decode(), "use_description")
    assert not LicenseTemplate.objects.filter(name="Short").exists()


def test_posts_need_the_csrf_token(personas):
    csrf_client = _client(Client(enforce_csrf_checks=True), personas.dana)
    license = make_license(personas)
    template = _template(personas)
    for url, data in ((reverse("portal-license-draft"), _draft_post(personas)),
                      (reverse("portal-template-archive", args=[template.id]), {}),
                      (reverse("portal-license-suspend", args=[license.id]), {"reason": "strike"}),
                      (reverse("portal-license-resume", args=[license.id]), {})):
        assert csrf_client.post(url, data).status_code == 403, url
    license.refresh_from_db()
    assert license.status == LikenessLicense.Status.COUNTERSIGNED and LikenessLicense.objects.count() == 1


# --- suspensions -------------------------------------------------------------------------

def test_legal_suspends_and_resumes_an_active_license_and_the_history_shows(client, personas):
    license = make_license(personas)
    client = _client(client, personas.dana)
    page = client.get(reverse("portal-license", args=[license.id])).content.decode()
    assert reverse("portal-license-suspend", args=[license.id]) in page and "Never suspended." in page

    response = client.post(reverse("portal-license-suspend", args=[license.id]),
                           {"reason": "dispute", "note": "Fee dispute with the agent."})
    assert response.status_code == 302
    license.refresh_from_db()
    assert license.status == LikenessLicense.Status.SUSPENDED
    assert gate.license_refusal(license)[0] is not None
    page = client.get(reverse("portal-license", args=[license.id])).content.decode()
    assert "Dispute" in page and "Fee dispute with the agent." in page and "in force" in page
    assert reverse("portal-license-resume", args=[license.id]) in page

    assert client.post(reverse("portal-license-resume", args=[license.id])).status_code == 302
    license.refresh_from_db()
    suspension = LicenseSuspension.objects.get()
    assert license.status == LikenessLicense.Status.COUNTERSIGNED and suspension.lifted_by == personas.dana
    page = client.get(reverse("portal-license", args=[license.id])).content.decode()
    assert "in force" not in page and "Dispute" in page
    actions = list(AuditEvent.objects.filter(subject=f"license:{license.id}").values_list("action", flat=True))
    assert actions[-2:] == ["license.suspended", "license.countersigned"]


def test_a_suspension_needs_a_reason_and_other_needs_a_note(client, personas):
    license = make_license(personas)
    client = _client(client, personas.dana)
    url = reverse("portal-license-suspend", args=[license.id])
    response = client.post(url, {"note": "x"})
    assert response.status_code == 400 and "Choose a reason." in _field(response.content.decode(), "reason")
    response = client.post(url, {"reason": "other", "note": " "})
    assert response.status_code == 400 and "Say what the suspension is for." in _field(response.content.decode(), "note")
    license.refresh_from_db()
    assert license.status == LikenessLicense.Status.COUNTERSIGNED and not LicenseSuspension.objects.exists()


def test_only_an_executed_license_can_be_suspended(client, personas):
    license = make_license(personas, signed=False, countersigned=False)
    client = _client(client, personas.dana)
    assert "Suspend this license" not in client.get(reverse("portal-license", args=[license.id])).content.decode()
    response = client.post(reverse("portal-license-suspend", args=[license.id]), {"reason": "strike"})
    assert response.status_code == 400 and "Only an executed license can be suspended." in response.content.decode()
    assert not LicenseSuspension.objects.exists()


@pytest.mark.parametrize("persona", ["alice", "bob", "charlie"])
def test_only_the_licensees_legal_staff_suspend_or_resume(client, personas, persona):
    license = make_license(personas)
    client = _client(client, getattr(personas, persona))
    assert client.get(reverse("portal-license-suspend", args=[license.id])).status_code == 404
    assert client.post(reverse("portal-license-suspend", args=[license.id]), {"reason": "strike"}).status_code == 404
    services.license_suspend(license=license, reason="strike", note="", acting_user=personas.dana)
    assert client.post(reverse("portal-license-resume", args=[license.id])).status_code == 404
    license.refresh_from_db()
    assert license.status == LikenessLicense.Status.SUSPENDED


def test_legal_of_another_organisation_gets_404_for_suspensions(client, personas, django_user_model):
    license = make_license(personas)
    oscar = _member(django_user_model, personas.other_studio, Membership.Role.LEGAL, "oscar")
    client = _client(client, oscar)
    assert client.get(reverse("portal-license", args=[license.id])).status_code == 404
    assert client.post(reverse("portal-license-suspend", args=[license.id]), {"reason": "strike"}).status_code == 404


# --- audit log ---------------------------------------------------------------------------

def _other_studio_license(personas, django_user_model):  # type: ignore[no-untyped-def]
    oscar = _member(django_user_model, personas.other_studio, Membership.Role.LEGAL, "oscar")
    today = timezone.localdate()
    from tests.conftest import LICENSE_TERMS

    license = services.license_draft(talent=personas.talent, licensee=personas.other_studio, acting_user=oscar,
                                     **{**LICENSE_TERMS, "permitted_media": ["video"], "starts_on": today,
                                        "ends_on": today + timedelta(days=30), "max_renders": 1})
    return oscar, license


def test_the_audit_log_shows_only_events_about_the_readers_organisation(client, personas, django_user_model):
    ours = make_license(personas)
    job = renders.render_job_request(license_id=str(ours.id), prompt="sks person walking", params=SMALL_RENDER,
                                     acting_user=personas.bob)
    oscar, theirs = _other_studio_license(personas, django_user_model)
    response = _client(client, personas.dana).get(reverse("portal-audit-log"))
    assert response.status_code == 200
    subjects = {event.subject for event in response.context["page"].paginator.object_list}
    assert {f"license:{ours.id}", f"render:{job.id}", f"organization:{personas.studio.id}",
            f"license_template:{_template(personas).id}"} <= subjects
    assert f"license:{theirs.id}" not in subjects and f"organization:{personas.other_studio.id}" not in subjects
    assert not any(subject.startswith(("talent:", "user:")) for subject in subjects)
    page = response.content.decode()
    assert f"license:{ours.id}" in page and str(theirs.id) not in page
    client.logout()
    theirs_page = _client(client, oscar).get(reverse("portal-audit-log")).content.decode()
    assert f"license:{theirs.id}" in theirs_page and str(ours.id) not in theirs_page


def test_the_audit_log_is_newest_first_paginated_and_shows_the_chain_status(client, personas):
    for n in range(55):
        audit_append(action="test.note", actor="system:test", subject=f"organization:{personas.studio.id}",
                     data={"n": n})
    client = _client(client, personas.dana)
    response = client.get(reverse("portal-audit-log"), {"action": "test.note"})
    rows = response.context["rows"]
    assert len(rows) == 50 and [e.seq for e in rows] == sorted((e.seq for e in rows), reverse=True)
    head = AuditEvent.objects.order_by("-seq").first().seq
    page = response.content.decode()
    assert f"Chain verified: {AuditEvent.objects.count()} events, head #{head}" in page
    assert "page=2" in page and "action=test.note" in page
    second = client.get(reverse("portal-audit-log"), {"action": "test.note", "page": 2}).context["rows"]
    assert len(second) == 5 and max(e.seq for e in second) < min(e.seq for e in rows)


def test_the_audit_log_reads_the_same_pages_whichever_order_the_count_chooses(personas):
    """A studio's few events in a large log are read by subject and sorted; its many events
    by walking the log backwards. Either way the same events, newest first, page by page."""
    for n in range(120):
        audit_append(action="test.note", actor="system:test", subject=f"organization:{personas.studio.id}",
                     data={"n": n})
        audit_append(action="test.note", actor="system:test", subject=f"organization:{personas.other_studio.id}",
                     data={"n": n})
    events = audit_events_search(within=[[f"organization:{personas.studio.id}"]], action="test.note")
    sparse = audit_events_newest_first(events, matching=120, through=10**9)  # few matches in a huge log
    dense = audit_events_newest_first(events, matching=10**9, through=50)  # nearly every event matches
    assert dense.query.order_by == ("-seq",) and sparse.query.order_by != ("-seq",)
    newest_first = sorted(events.values_list("seq", flat=True), reverse=True)
    for bottom in (0, 50, 100):
        assert [e.seq for e in sparse[bottom:bottom + 50]] == [e.seq for e in dense[bottom:bottom + 50]] \
            == newest_first[bottom:bottom + 50]


def test_the_audit_log_filters_by_action_subject_actor_dates_and_numbers(client, personas):
    license = make_license(personas)
    client = _client(client, personas.dana)

    def seqs(**query: object) -> list[int]:
        response = client.get(reverse("portal-audit-log"), query)
        assert response.status_code == 200, response.content
        return [event.seq for event in response.context["page"].paginator.object_list]

    license_events = AuditEvent.objects.filter(subject=f"license:{license.id}").order_by("-seq")
    assert seqs(subject=f"license:{license.id}") == [e.seq for e in license_events]
    assert seqs(action="license.signed") == [license_events.get(action="license.signed").seq]
    assert set(seqs(action="license.")) >= {e.seq for e in license_events}
    assert seqs(actor="alice", subject=f"license:{license.id}") == [license_events.get(action="license.signed").seq]
    assert seqs(actor=f"user:{personas.alice.pk}", subject=f"license:{license.id}") == \
        seqs(actor="alice", subject=f"license:{license.id}")
    first, last = license_events.last().seq, license_events.first().seq
    assert seqs(seq_from=first + 1, seq_to=last - 1) == [e.seq for e in license_events][1:-1]
    today = timezone.localdate()
    assert len(seqs(date_from=today, date_to=today)) == len(seqs())
    assert seqs(date_from=today + timedelta(days=1)) == []


def test_an_impossible_audit_filter_is_explained_beside_its_field(client, personas):
    client = _client(client, personas.dana)
    response = client.get(reverse("portal-audit-log"), {"date_from": "2026-05-02", "date_to": "2026-05-01",
                                                        "seq_from": "9", "seq_to": "3"})
    page = response.content.decode()
    assert response.status_code == 400 and "must end on or after its start" in _field(page, "date_to")
    assert "must not be below the first" in _field(page, "seq_to")
    response = client.get(reverse("portal-audit-log"), {"actor": "nobody-here"})
    assert response.status_code == 400 and "no account with that username" in _field(response.content.decode(), "actor")


def test_auditors_read_the_audit_log_and_other_personas_get_404(client, personas, django_user_model):
    gina = _member(django_user_model, personas.studio, Membership.Role.AUDITOR, "gina")
    client.force_login(gina)
    assert client.get(reverse("portal-audit-log")).status_code == 200
    assert client.get(reverse("portal-templates")).status_code == 404
    for persona in (personas.alice, personas.bob, personas.charlie):
        client.force_login(persona)
        assert client.get(reverse("portal-audit-log")).status_code == 404


def test_a_broken_chain_is_reported_at_the_top_of_the_audit_log(client, personas):
    event = AuditEvent.objects.order_by("seq")[2]
    with audit_maintenance(connection), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET body = %s WHERE seq = %s",
                       [event.body.replace('"v":2', '"v":3'), event.seq])
    page = _client(client, personas.dana).get(reverse("portal-audit-log")).content.decode()
    assert f"Chain broken at #{event.seq}" in page and "Chain verified" not in page


def test_the_audit_log_shows_the_latest_signed_checkpoint(client, personas):
    client = _client(client, personas.dana)
    assert "No signed checkpoint matched yet" in client.get(reverse("portal-audit-log")).content.decode()
    written = audit_checkpoint_write()
    audit_append(action="test.note", actor="system:test", subject=f"organization:{personas.studio.id}")
    page = client.get(reverse("portal-audit-log")).content.decode()
    assert f"Latest signed checkpoint matched: #{written.checkpoint.tree_size}" in page
    assert f"Chain verified: {AuditEvent.objects.count()} events" in page


def test_nav_and_home_link_the_legal_pages_for_legal_only(client, personas):
    page = _client(client, personas.dana).get("/").content.decode()
    for name in ("portal-license-draft", "portal-templates", "portal-audit-log"):
        assert reverse(name) in page
    client.force_login(personas.bob)
    page = client.get("/").content.decode()
    assert reverse("portal-audit-log") not in page and reverse("portal-templates") not in page


# --- compliance report as PDF --------------------------------------------------------------

def test_the_compliance_pdf_is_for_the_licensees_legal_staff_only(client, personas):
    for persona in (personas.alice, personas.bob, personas.charlie):
        client.force_login(persona)
        assert client.get(reverse("portal-compliance-report"), {"as": "pdf"}).status_code == 404
    response = _client(client, personas.dana).get(reverse("portal-compliance-report"), {"as": "pdf"})
    assert response.content.startswith(b"%PDF-")


def test_out_of_range_numbers_and_dates_are_plain_errors_not_server_errors(client, personas):
    legal = _client(client, personas.dana)
    response = legal.post(reverse("portal-template-create"), {"term_months": "1000000", "max_renders": "99999999999"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "less than or equal to 1200" in page and "less than or equal to 1000000" in page
    assert legal.get(reverse("portal-audit-log"), {"date_to": "9999-12-31"}).status_code == 400
    assert legal.get(reverse("portal-audit-log"), {"seq_to": str(2**70)}).status_code == 400


def test_a_template_longer_than_the_longest_license_is_refused_by_the_service(personas):
    from core.errors import ValidationFailed

    fields = {**BUILT_IN[0], "name": "Forever", "term_months": 12 * 200}
    with pytest.raises(ValidationFailed) as refusal:
        license_template_create(organization=personas.studio, acting_user=personas.dana, **fields)
    assert refusal.value.field == "term_months" and "at most" in refusal.value.message
