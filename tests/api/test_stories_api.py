"""The stories API with the personas: Bob (producer) and Dana (legal) author for Northlight;
Charlie (producer at Harbour Pictures) is told its stories are not there; Alice's likeness is
cast under her license, through the consent gate. The story is the harbour fixture (compiled
by inkjs); its broken variant changes a tag's text in the source and in the compiled JSON alike.
"""

from __future__ import annotations


import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AuditEvent
from stories.models import Story, StoryRole
from tests.conftest import make_license
from tests.stories import story_file

pytestmark = pytest.mark.django_db

SOURCE = story_file("harbour.ink").read_text(encoding="utf-8")
COMPILED = story_file("harbour.json").read_text(encoding="utf-8")
ERROR_KEYS = {"code", "message", "field", "errors"}


def lines_of(text: str, source: str = SOURCE) -> list[int]:
    return [n for n, line in enumerate(source.splitlines(), start=1) if line.strip() == text]


def body(personas, **changes) -> dict:  # type: ignore[no-untyped-def]
    return {"organization": str(personas.studio.id), "title": "", "compiled_json": COMPILED, "ink_source": SOURCE,
            **changes}


def create(client, personas, **changes):  # type: ignore[no-untyped-def]
    return client.post(reverse("story-list"), body(personas, **changes), format="json")


def cast(client, story: dict, role: str, **data):  # type: ignore[no-untyped-def]
    [role_id] = [r["id"] for r in story["roles"] if r["name"] == role]
    return client.post(reverse("story-role-cast", kwargs={"pk": story["id"], "role_id": role_id}), data, format="json")


def publish(client, story: dict):  # type: ignore[no-untyped-def]
    return client.post(reverse("story-publish", kwargs={"pk": story["id"]}), format="json")


@pytest.fixture
def story(mfa_personas, api) -> dict:  # type: ignore[no-untyped-def]
    response = create(api("bob"), mfa_personas)
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def interactive_license(mfa_personas):  # type: ignore[no-untyped-def]
    return make_license(mfa_personas, interactive=True)


def test_a_producer_creates_a_story_from_compiled_ink_and_reads_its_outline(mfa_personas, api, story):
    assert (story["title"], story["status"], story["published_at"], story["organization"]) == (
        "Harbour Lights", "draft", None, str(mfa_personas.studio.id))
    assert [(r["name"], r["kind"], r["license"]) for r in story["roles"]] == [("friend", "", None), ("lead", "", None)]
    outline = story["outline"]
    assert outline["start"] == "harbour_dawn" and outline["truncated"] is False
    pier = next(scene for scene in outline["scenes"] if scene["knot"] == "pier_talk")
    assert pier == {"knot": "pier_talk", "prompt": "two friends talking on a wooden pier, gulls overhead",
                    "cast": ["lead", "friend"], "seconds": pier["seconds"], "line": lines_of("=== pier_talk ===")[0]}
    assert api("bob").get(reverse("story-detail", kwargs={"pk": story["id"]})).json() == story
    listed = api("dana").get(reverse("story-list")).json()["results"]
    assert [item["id"] for item in listed] == [story["id"]] and "outline" not in listed[0]


def test_a_create_repeated_with_its_idempotency_key_creates_nothing_more(mfa_personas, api):
    first = api("bob").post(reverse("story-list"), body(mfa_personas), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api("bob").post(reverse("story-list"), body(mfa_personas), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert Story.objects.count() == 1


def test_a_broken_story_is_a_400_listing_each_problem_by_line_and_stores_nothing(mfa_personas, api):
    source = SOURCE.replace("# seconds: 2.5", "# seconds: forever")
    compiled = COMPILED.replace('"^seconds: 2.5"', '"^seconds: forever"')
    assert source != SOURCE and compiled != COMPILED
    events = AuditEvent.objects.count()
    response = create(api("bob"), mfa_personas, compiled_json=compiled, ink_source=source)
    assert response.status_code == 400, response.content
    error = response.json()
    assert set(error) == ERROR_KEYS and (error["code"], error["field"]) == ("invalid", "ink_source")
    [line] = lines_of("# seconds: forever", source)
    assert [e["line"] for e in error["errors"]] == [line]
    assert error["errors"][0]["message"].startswith("scene 'cliff_path': seconds 'forever'")
    assert (Story.objects.count(), StoryRole.objects.count(), AuditEvent.objects.count()) == (0, 0, events)


def test_text_that_is_not_compiled_ink_is_a_400_on_the_compiled_json(mfa_personas, api):
    response = create(api("bob"), mfa_personas, compiled_json="not json")
    assert response.status_code == 400 and response.json()["field"] == "compiled_json"
    assert Story.objects.count() == 0


def test_another_studio_gets_404_for_the_story_its_roles_and_authoring_for_the_studio(mfa_personas, api, story,
                                                                                      interactive_license):
    charlie = api("charlie")
    assert charlie.get(reverse("story-list")).json()["results"] == []
    for response in (charlie.get(reverse("story-detail", kwargs={"pk": story["id"]})),
                     cast(charlie, story, "friend", viewer=True),
                     cast(charlie, story, "lead", license=str(interactive_license.id)),
                     publish(charlie, story),
                     create(charlie, mfa_personas)):
        assert response.status_code == 404, response.content
        assert set(response.json()) == ERROR_KEYS
    assert Story.objects.count() == 1
    assert not StoryRole.objects.exclude(kind="").exists()


def test_the_talent_does_not_see_the_studios_stories(mfa_personas, api, story):
    assert api("alice").get(reverse("story-detail", kwargs={"pk": story["id"]})).status_code == 404


def test_casting_under_a_license_without_interactive_use_is_a_409_with_the_gates_reason(mfa_personas, api, story):
    license = make_license(mfa_personas)  # interactive use not granted
    response = cast(api("bob"), story, "lead", license=str(license.id))
    assert response.status_code == 409, response.content
    error = response.json()
    assert (error["code"], error["message"], error["errors"]) == (
        "consent_refused", "The license does not allow interactive use.", {"reason": "interactive_not_permitted"})
    assert StoryRole.objects.get(story_id=story["id"], name="lead").kind == ""


def test_a_role_is_cast_under_a_license_or_as_the_viewers_not_both_nor_neither(mfa_personas, api, story,
                                                                              interactive_license):
    for data in ({}, {"license": str(interactive_license.id), "viewer": True}):
        response = cast(api("bob"), story, "lead", **data)
        assert response.status_code == 400 and response.json()["field"] == "license", response.content


def test_publishing_with_an_uncast_role_is_a_400_naming_the_scene_lines(mfa_personas, api, story,
                                                                        interactive_license):
    assert cast(api("bob"), story, "lead", license=str(interactive_license.id)).status_code == 200
    response = publish(api("bob"), story)
    assert response.status_code == 400, response.content
    error = response.json()
    assert (error["code"], error["field"]) == ("invalid", "roles")
    assert [e["line"] for e in error["errors"]] == lines_of("# cast: lead, friend")
    assert all(e["message"].endswith("role 'friend' is not cast") for e in error["errors"])
    assert Story.objects.get(pk=story["id"]).status == "draft"


def test_a_full_cast_publishes_and_publishing_again_is_a_409(mfa_personas, api, story, interactive_license):
    bob = api("bob")
    response = cast(bob, story, "lead", license=str(interactive_license.id))
    assert response.status_code == 200, response.content
    assert {r["name"]: (r["kind"], r["license"]) for r in response.json()["roles"]}["lead"] == (
        "talent", str(interactive_license.id))
    assert cast(bob, story, "friend", viewer=True).status_code == 200
    published = publish(bob, story)
    assert published.status_code == 200, published.content
    assert published.json()["status"] == "published" and published.json()["published_at"]
    again = publish(api("dana"), story)
    assert again.status_code == 409
    assert (again.json()["code"], again.json()["message"]) == (
        "invalid_transition", "This story is published: only a draft can be published.")
    assert cast(bob, story, "friend", viewer=True).json()["code"] == "invalid_transition"


def test_a_scene_the_gate_refuses_at_publish_is_a_409_listing_each_refusal(mfa_personas, api, interactive_license):
    prompt = "two friends talking on a wooden pier, gulls overhead"
    changed = "two friends at an election rally on a wooden pier"
    response = create(api("bob"), mfa_personas, ink_source=SOURCE.replace(f"# prompt: {prompt}", f"# prompt: {changed}"),
                      compiled_json=COMPILED.replace(f'"^prompt: {prompt}"', f'"^prompt: {changed}"'))
    assert response.status_code == 201, response.content
    story = response.json()
    cast(api("bob"), story, "lead", license=str(interactive_license.id))
    cast(api("bob"), story, "friend", viewer=True)
    refused = publish(api("bob"), story)
    assert refused.status_code == 409, refused.content
    error = refused.json()
    assert error["code"] == "consent_refused"
    assert [(e["scene"], e["role"], e["reason"]) for e in error["errors"]] == [("pier_talk", "lead", "excluded_content")]
    assert Story.objects.get(pk=story["id"]).status == "draft"


def test_token_clients_author_cast_and_publish_like_session_ones(mfa_personas, interactive_license):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=mfa_personas.bob).key}")
    created = create(client, mfa_personas)
    assert created.status_code == 201, created.content
    story = created.json()
    assert client.get(reverse("story-list")).json()["results"][0]["id"] == story["id"]
    assert cast(client, story, "lead", license=str(interactive_license.id)).status_code == 200
    assert cast(client, story, "friend", viewer=True).status_code == 200
    assert publish(client, story).json()["status"] == "published"
    outsider = APIClient()
    outsider.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=mfa_personas.charlie).key}")
    assert outsider.get(reverse("story-detail", kwargs={"pk": story["id"]})).status_code == 404
    assert APIClient().get(reverse("story-list")).status_code == 401
