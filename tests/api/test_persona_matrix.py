"""Every API route, every persona: generated from the router, so no route escapes it.

Personas: talent Alice; Bob, producer at Alice's licensee; Charlie, producer at another
studio; Dana and Erin, legal at the licensee; Frank and Grace, verifiers of the platform
operator; Otto, whom Alice asked to be her agent; and anonymous. Northlight's stories are Bob's,
Dana's and Erin's (a draft, and one cast to be published); nobody else's. Anonymous gets 401 on
every route; Charlie gets 404 on every object route and sees none of Alice's objects in
lists; each insider gets what their role allows, and a refused insider changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pytest
from django.apps import apps
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.invitations import invitation_create
from bespoke.api.urls import router
from bespoke.synthetic_faces import synthetic_face_photos
from django.contrib.auth import get_user_model

from consent import desk
from consent import services as consent
from consent.models import IdentityVerification
from generation.services import render, training
from stories import services as stories
from stories.models import StoryRole
from tests.conftest import LICENSE_TERMS, SMALL_RENDER, make_license
from tests.consent.evidence import evidence_files
from tests.stories import story_file

pytestmark = pytest.mark.django_db


@dataclass
class World:
    personas: Any
    license: Any
    approval_job: Any
    draft: Any
    offered: Any
    signed: Any
    suspended: Any
    pending_verification: Any
    representation: Any
    job: Any
    training_job: Any
    invitation: Any = None
    story: Any = None
    cast_story: Any = None




def _story(personas):  # type: ignore[no-untyped-def]
    return stories.story_create(organization=personas.studio, title="",
                                compiled_json=story_file("harbour.json").read_text(encoding="utf-8"),
                                ink_source=story_file("harbour.ink").read_text(encoding="utf-8"),
                                acting_user=personas.bob)


def _story_body(w: World) -> dict:
    return {"organization": str(w.personas.studio.id), "title": "", "ink_source": w.story.ink_source,
            "compiled_json": w.story.compiled_json}


def build_world(personas) -> World:  # type: ignore[no-untyped-def]
    license = make_license(personas, allows_likeness_model=True)
    for data in synthetic_face_photos(4):
        consent.reference_photo_add(talent=personas.talent, data=data, filename="p.jpg", acting_user=personas.alice)
    draft = make_license(personas, offered=False, signed=False, countersigned=False)
    offered = make_license(personas, signed=False, countersigned=False)
    signed = make_license(personas, countersigned=False)
    suspended = make_license(personas)
    consent.license_suspend(license=suspended, reason="strike", note="", acting_user=personas.dana)
    pending = desk.identity_verification_request(talent=personas.talent, method="document", acting_user=personas.alice)
    for kind, data in (("id_document", synthetic_face_photos(1, seed=3)[0]), ("consent_capture", synthetic_face_photos(1, seed=4)[0])):
        desk.identity_evidence_add(verification=pending, kind=kind, data=data, filename="e.jpg", acting_user=personas.alice)
    User = get_user_model()
    personas.otto = User.objects.create_user(username="otto", password="pw-otto-agent")
    personas.vera = User.objects.create_user(username="vera", password="pw-vera-viewer")
    representation = desk.representation_request(talent=personas.talent, representative=personas.otto, kind="agent",
                                                 acting_user=personas.alice)
    for kind, (filename, data) in evidence_files().items():
        desk.representation_evidence_add(representation=representation, kind=kind, data=data, filename=filename,
                                         acting_user=personas.otto)
    job = render.render_job_request(license_id=str(license.id), prompt="sks person walking", params=SMALL_RENDER,
                                    acting_user=personas.bob)
    training_job = training.training_job_request(license_id=str(license.id), acting_user=personas.bob)
    per_use = make_license(personas, requires_use_approval=True)
    approval_job = render.render_job_request(license_id=str(per_use.id), prompt="sks person smiling",
                                             params=SMALL_RENDER, acting_user=personas.bob)
    invitation, _ = invitation_create(organization=personas.studio, kind="member", role="producer",
                                      email="new-producer@example.org", acting_user=personas.dana)
    story = _story(personas)
    cast_story = _story(personas)  # every role the viewer's: ready to publish
    for role in StoryRole.objects.filter(story=cast_story):
        stories.story_role_cast(role=role, viewer=True, acting_user=personas.bob)
    return World(personas, license, approval_job, draft, offered, signed, suspended, pending, representation, job,
                 training_job, invitation, story, cast_story)


def _license_body(w: World) -> dict:
    today = timezone.localdate()
    return {**LICENSE_TERMS, "talent": str(w.personas.talent.id), "licensee": str(w.personas.studio.id),
            "permitted_media": ["video"], "max_renders": 2, "starts_on": str(today),
            "ends_on": str(today + timedelta(days=30))}


def _sign_body(license) -> dict:  # type: ignore[no-untyped-def]
    return {"text_sha256": license.text_sha256, "disclosure_accepted": True}


@dataclass(frozen=True)
class Route:
    method: str
    kwargs: Callable[[World], dict] | None  # None: a collection route
    body: Callable[[World], Any] = lambda w: None
    expect: dict[str, int] = None  # insiders: persona -> status; the allowed one is listed last
    listed: Callable[[World], str] | None = None  # for list routes: an id Charlie must not see
    multipart: bool = False


OK, CREATED, FORBIDDEN, NOT_FOUND, CONFLICT = 200, 201, 403, 404, 409

MATRIX: dict[str, Route] = {
    "talent-list": Route("get", None, expect={"alice": OK, "bob": OK, "dana": OK}, listed=lambda w: str(w.personas.talent.id)),
    "talent-detail": Route("get", lambda w: {"pk": w.personas.talent.id}, expect={"alice": OK, "bob": OK, "erin": OK}),
    "talent-photos": Route("post", lambda w: {"pk": w.personas.talent.id}, multipart=True,
                           body=lambda w: {"photo": _upload()}, expect={"bob": FORBIDDEN, "dana": FORBIDDEN, "alice": CREATED}),
    "verification-list": Route("get", None, expect={"alice": OK, "frank": OK}, listed=lambda w: str(w.pending_verification.id)),
    "verification-detail": Route("get", lambda w: {"pk": w.pending_verification.id},
                                 expect={"bob": NOT_FOUND, "erin": NOT_FOUND, "otto": NOT_FOUND, "alice": OK, "grace": OK}),
    "verification-evidence": Route("post", lambda w: {"pk": w.pending_verification.id}, multipart=True,
                                   body=lambda w: {"kind": "id_document", "file": _upload()},
                                   expect={"bob": NOT_FOUND, "dana": NOT_FOUND, "frank": FORBIDDEN, "alice": CREATED}),
    "verification-evidence-file": Route("get", lambda w: {"pk": w.pending_verification.id,
                                                         "evidence_id": w.pending_verification.evidence.first().id},
                                        expect={"bob": NOT_FOUND, "erin": NOT_FOUND, "otto": NOT_FOUND, "alice": OK,
                                                "frank": OK}),
    "verification-decide": Route("post", lambda w: {"pk": w.pending_verification.id},
                                 body=lambda w: {"approve": True, "legal_name": "Alice Avery", "birth_date": "1990-04-02"},
                                 expect={"bob": NOT_FOUND, "dana": NOT_FOUND, "alice": FORBIDDEN, "frank": OK}),
    "representation-list": Route("get", None, expect={"alice": OK, "otto": OK, "grace": OK},
                                 listed=lambda w: str(w.representation.id)),
    "representation-detail": Route("get", lambda w: {"pk": w.representation.id},
                                   expect={"bob": NOT_FOUND, "dana": NOT_FOUND, "alice": OK, "otto": OK, "frank": OK}),
    "representation-evidence": Route("post", lambda w: {"pk": w.representation.id}, multipart=True,
                                     body=lambda w: {"kind": "id_document", "file": _upload()},
                                     expect={"dana": NOT_FOUND, "alice": FORBIDDEN, "frank": FORBIDDEN, "otto": CREATED}),
    "representation-evidence-file": Route("get", lambda w: {"pk": w.representation.id,
                                                           "evidence_id": w.representation.evidence.first().id},
                                          expect={"bob": NOT_FOUND, "dana": NOT_FOUND, "alice": FORBIDDEN, "otto": OK,
                                                  "grace": OK}),
    "representation-decide": Route("post", lambda w: {"pk": w.representation.id},
                                   body=lambda w: {"approve": True, "legal_name": "Otto Agent"},
                                   expect={"dana": NOT_FOUND, "alice": FORBIDDEN, "otto": FORBIDDEN, "frank": OK}),
    "representation-revoke": Route("post", lambda w: {"pk": w.representation.id},
                                   body=lambda w: {"reason": "I manage my own bookings again."},
                                   expect={"bob": NOT_FOUND, "dana": NOT_FOUND, "alice": OK}),
    "license-list": Route("get", None, expect={"alice": OK, "bob": OK, "dana": OK}, listed=lambda w: str(w.license.id)),
    "license-detail": Route("get", lambda w: {"pk": w.license.id}, expect={"alice": OK, "bob": OK, "erin": OK}),
    "license-offer": Route("post", lambda w: {"pk": w.draft.id}, expect={"alice": FORBIDDEN, "bob": FORBIDDEN, "erin": OK}),
    "license-sign": Route("post", lambda w: {"pk": w.offered.id}, body=lambda w: _sign_body(w.offered),
                          expect={"bob": FORBIDDEN, "dana": FORBIDDEN, "alice": OK}),
    "license-countersign": Route("post", lambda w: {"pk": w.signed.id}, body=lambda w: _sign_body(w.signed),
                                 expect={"alice": FORBIDDEN, "bob": FORBIDDEN, "dana": OK}),
    "license-revoke": Route("post", lambda w: {"pk": w.license.id}, body=lambda w: {"reason": "Withdrawn."},
                            expect={"bob": FORBIDDEN, "alice": OK}),
    "license-suspend": Route("post", lambda w: {"pk": w.license.id}, body=lambda w: {"reason": "dispute"},
                             expect={"bob": FORBIDDEN, "dana": OK}),
    "license-resume": Route("post", lambda w: {"pk": w.suspended.id}, expect={"alice": FORBIDDEN, "bob": FORBIDDEN, "erin": OK}),
    "license-amend": Route("post", lambda w: {"pk": w.license.id}, body=lambda w: {"changes": {"max_renders": 9}},
                           expect={"alice": FORBIDDEN, "bob": FORBIDDEN, "erin": CREATED}),
    "license-certificate": Route("get", lambda w: {"pk": w.license.id}, expect={"bob": OK, "alice": OK, "dana": OK}),
    "license-disclosure": Route("get", None, expect={"alice": OK, "bob": OK}),
    "render-list": Route("get", None, expect={"alice": OK, "bob": OK, "dana": OK}, listed=lambda w: str(w.job.id)),
    "render-detail": Route("get", lambda w: {"pk": w.job.id}, expect={"alice": OK, "dana": OK, "bob": OK}),
    "render-cancel": Route("post", lambda w: {"pk": w.job.id}, expect={"alice": FORBIDDEN, "bob": OK}),
    # The job is a clip, not a published keyframe: the licensee's producer is told so (409); others, that it is not there.
    "render-animate": Route("post", lambda w: {"pk": w.job.id}, expect={"alice": NOT_FOUND, "dana": NOT_FOUND,
                                                                        "bob": CONFLICT}),
    "render-redo": Route("post", lambda w: {"pk": w.job.id}, expect={"alice": NOT_FOUND, "dana": NOT_FOUND,
                                                                     "bob": CONFLICT}),
    "render-approve": Route("post", lambda w: {"pk": w.approval_job.id}, expect={"bob": FORBIDDEN, "dana": FORBIDDEN,
                                                                                 "alice": OK}),
    "render-decline": Route("post", lambda w: {"pk": w.approval_job.id}, body=lambda w: {"reason": "Not this scene."},
                            expect={"bob": FORBIDDEN, "alice": OK}),
    "me-export": Route("post", None, expect={"bob": FORBIDDEN, "alice": OK}),
    "me-erase": Route("post", None, body=lambda w: {"confirm": True}, expect={"bob": FORBIDDEN, "alice": OK}),
    "render-download": Route("get", lambda w: {"pk": w.job.id}, expect={"bob": NOT_FOUND}),  # no output yet
    "training-list": Route("get", None, expect={"alice": OK, "bob": OK}, listed=lambda w: str(w.training_job.id)),
    "training-detail": Route("get", lambda w: {"pk": w.training_job.id}, expect={"alice": OK, "bob": OK}),
    "training-cancel": Route("post", lambda w: {"pk": w.training_job.id}, expect={"alice": FORBIDDEN, "dana": OK}),
    "invitation-list": Route("get", None, expect={"erin": OK}, listed=lambda w: str(w.invitation.id)),
    "invitation-detail": Route("get", lambda w: {"pk": w.invitation.id},
                               expect={"alice": NOT_FOUND, "bob": NOT_FOUND, "erin": OK}),
    "invitation-revoke": Route("post", lambda w: {"pk": w.invitation.id},
                               expect={"alice": NOT_FOUND, "bob": NOT_FOUND, "erin": OK}),
    "story-list": Route("get", None, expect={"bob": OK, "dana": OK}, listed=lambda w: str(w.story.id)),
    "story-detail": Route("get", lambda w: {"pk": w.story.id},
                          expect={"alice": NOT_FOUND, "frank": NOT_FOUND, "erin": OK, "bob": OK}),
    "story-role-cast": Route("post", lambda w: {"pk": w.story.id, "role_id": w.story.roles.get(name="friend").id},
                             body=lambda w: {"viewer": True},
                             expect={"alice": NOT_FOUND, "otto": NOT_FOUND, "frank": NOT_FOUND, "bob": OK}),
    "story-publish": Route("post", lambda w: {"pk": w.cast_story.id},
                           expect={"alice": NOT_FOUND, "grace": NOT_FOUND, "dana": OK}),
}
CREATE_ROUTES: dict[str, tuple[Callable[[World], Any], dict[str, int]]] = {
    "verification-list": (lambda w: {"method": "document"}, {"bob": FORBIDDEN, "alice": 409}),  # one is pending already
    "representation-list": (lambda w: {"kind": "agent", "talent_username": "alice", "representative_username": "vera"},
                            {"bob": FORBIDDEN, "dana": FORBIDDEN, "otto": FORBIDDEN, "alice": CREATED}),
    "license-list": (_license_body, {"alice": NOT_FOUND, "bob": NOT_FOUND, "erin": CREATED}),
    "render-list": (lambda w: {"license": str(w.license.id), "prompt": "sks person", "params": SMALL_RENDER},
                    {"alice": NOT_FOUND, "dana": NOT_FOUND, "bob": CREATED}),
    "training-list": (lambda w: {"license": str(w.license.id)}, {"alice": NOT_FOUND, "bob": CREATED}),
    "invitation-list": (lambda w: {"organization": str(w.personas.studio.id), "kind": "talent",
                                   "display_name": "Tess Talbot", "email": "tess@example.org"},
                        {"alice": NOT_FOUND, "bob": NOT_FOUND, "dana": CREATED}),
    "story-list": (_story_body, {"alice": NOT_FOUND, "frank": NOT_FOUND, "bob": CREATED}),
}


def _upload():  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("portrait.jpg", synthetic_face_photos(1, seed=9)[0], content_type="image/jpeg")


def _route_names() -> set[str]:
    return {pattern.name for pattern in router.urls}


def test_no_api_route_is_missing_from_the_matrix():
    assert _route_names() == set(MATRIX), "add the new route to MATRIX (and CREATE_ROUTES if it creates)"


def _call(client, method: str, url: str, route: Route, world: World, body: Any = None):  # type: ignore[no-untyped-def]
    data = body if body is not None else route.body(world)
    if route.multipart:
        return getattr(client, method)(url, data=data, format="multipart")
    return getattr(client, method)(url, data=data, format="json")


# Every table a request could change (sessions aside: signing a client in is not the request under test).
SNAPSHOT_APPS = ("audit", "consent", "generation", "stories", "accounts", "bespoke", "account", "mfa", "authtoken",
                 "auth")


def _snapshot() -> dict[str, object]:
    """Each table's row count and a digest of its rows, the audit chain's head, and the stored files."""
    state: dict[str, object] = {}
    for model in apps.get_models():
        if model._meta.app_label in SNAPSHOT_APPS and not model._meta.proxy:
            rows = list(model.objects.order_by("pk").values_list())
            state[model._meta.label] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    media = Path(settings.MEDIA_ROOT)
    state["stored files"] = sorted(str(path) for path in media.rglob("*")) if media.exists() else []
    return state


def _refused_changes_nothing(client, call: Callable[[Any], Any]):  # type: ignore[no-untyped-def]
    """Make the request; when it is refused, no table, audit event or file may have changed."""
    before = _snapshot()
    response = call(client)
    if response.status_code >= 400:
        after = _snapshot()
        changed = [name for name in before if before[name] != after[name]]
        assert not changed, (response.status_code, response.content, changed)
    return response


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_each_persona_gets_what_its_role_allows(mfa_personas, api, name):
    world = build_world(mfa_personas)
    route = MATRIX[name]
    url = reverse(f"{name}", kwargs=route.kwargs(world) if route.kwargs else None)

    def request(client):  # type: ignore[no-untyped-def]
        return _call(client, route.method, url, route, world)

    anonymous = _refused_changes_nothing(api(None), request)
    assert anonymous.status_code == 401, anonymous.content
    assert anonymous.json()["code"] == "not_authenticated"

    outsider = _refused_changes_nothing(api("charlie"), request)
    if route.kwargs is not None:
        assert outsider.status_code == 404, outsider.content
        assert set(outsider.json()) == {"code", "message", "field", "errors"}
    elif route.listed is not None:
        assert outsider.status_code == 200
        assert route.listed(world) not in outsider.content.decode()

    for persona, expected in route.expect.items():
        response = _refused_changes_nothing(api(persona), request)
        assert response.status_code == expected, (persona, response.content)
        if route.listed is not None and expected == 200:
            assert route.listed(world) in response.content.decode()


@pytest.mark.parametrize("name", sorted(CREATE_ROUTES))
def test_each_persona_may_create_only_what_its_role_allows(mfa_personas, api, name):
    world = build_world(mfa_personas)
    body, expectations = CREATE_ROUTES[name]
    url = reverse(name)

    def create(client):  # type: ignore[no-untyped-def]
        return client.post(url, body(world), format="json")

    assert _refused_changes_nothing(api(None), create).status_code == 401
    assert _refused_changes_nothing(api("charlie"), create).status_code in (403, 404)
    for persona, expected in expectations.items():
        response = _refused_changes_nothing(api(persona), create)
        assert response.status_code == expected, (persona, response.content)


def test_the_desk_sees_every_pending_request_and_a_studio_sees_none(mfa_personas, api):
    world = build_world(mfa_personas)
    ids = [item["id"] for item in api("grace").get(reverse("verification-list")).json()["results"]]
    assert str(world.pending_verification.id) in ids
    assert IdentityVerification.objects.filter(status="pending").count() == 1
    for studio_member in ("dana", "erin", "bob"):
        assert api(studio_member).get(reverse("verification-list")).json()["results"] == []
        assert api(studio_member).get(reverse("representation-list")).json()["results"] == []
