"""Authoring, casting and publishing an interactive story, with the personas: Bob (producer)
and Dana (legal) author for Northlight; Charlie (producer at Harbour Pictures) never sees
its stories; Alice's likeness is cast under her license, through the consent gate.

Variants of the harbour fixture change one tag's text in the Ink source and the same text
in the JSON inkjs compiled from it (what inkjs would compile from the changed source), so
no compiled Ink is written by hand.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from audit.models import AuditEvent
from consent import gate
from consent import services as consent_services
from consent.models import Membership
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from stories import selectors, services
from stories.models import Story, StoryRole
from tests.conftest import LICENSE_TERMS, make_license, verify_identity
from tests.stories import story_file

pytestmark = pytest.mark.django_db

SOURCE = story_file("harbour.ink").read_text(encoding="utf-8")
COMPILED = story_file("harbour.json").read_text(encoding="utf-8")
LEAD_SCENES = ["harbour_dawn", "pier_talk", "cliff_path", "keeper_door", "window_climb", "lamp_room",
               "ending_light", "ending_dark"]


def variant(tag: str, changed: str) -> tuple[str, str]:
    """(source, compiled) with one scene tag's text changed in both."""
    assert SOURCE.count(f"# {tag}") == 1 and COMPILED.count(f'"^{tag}"') == 1
    return SOURCE.replace(f"# {tag}", f"# {changed}"), COMPILED.replace(f'"^{tag}"', f'"^{changed}"')


def line_of(text: str, source: str = SOURCE) -> int:
    [number] = [n for n, line in enumerate(source.splitlines(), start=1) if line.strip() == text]
    return number


def create(personas, *, source: str = SOURCE, compiled: str = COMPILED,  # type: ignore[no-untyped-def]
           user=None) -> Story:
    return services.story_create(organization=personas.studio, title="", compiled_json=compiled, ink_source=source,
                                 acting_user=user or personas.bob)


def role(story: Story, name: str) -> StoryRole:
    return StoryRole.objects.get(story=story, name=name)


@pytest.fixture
def interactive_license(personas):  # type: ignore[no-untyped-def]
    return make_license(personas, interactive=True)


def cast_correctly(personas, story: Story, license) -> None:  # type: ignore[no-untyped-def]
    services.story_role_cast(role=role(story, "lead"), license=license, acting_user=personas.bob)
    services.story_role_cast(role=role(story, "friend"), viewer=True, acting_user=personas.bob)


def story_actions(story: Story) -> list[str]:
    return list(AuditEvent.objects.filter(subject=f"story:{story.id}").order_by("id").values_list("action", flat=True))


# --- authoring ------------------------------------------------------------------------------------

def test_a_producer_creates_a_draft_story_with_one_uncast_role_per_role(personas):
    story = create(personas)
    assert (story.title, story.status, story.published_at, story.organization) == (
        "Harbour Lights", Story.Status.DRAFT, None, personas.studio)
    assert (story.ink_source, story.compiled_json, story.created_by) == (SOURCE, COMPILED, personas.bob)
    assert [(r.name, r.kind, r.license) for r in selectors.story_roles(story=story)] == [
        ("friend", "", None), ("lead", "", None)]
    event = AuditEvent.objects.get(subject=f"story:{story.id}")
    assert (event.action, event.actor) == ("story.created", f"user:{personas.bob.pk}")
    assert json.loads(event.body)["data"]["roles"] == ["friend", "lead"]
    assert "Harbour" not in event.body, "the audit record holds ids and hashes, not the story's words"


def test_legal_staff_author_too_and_a_given_title_wins(personas):
    story = services.story_create(organization=personas.studio, title=" Lights Out ", compiled_json=COMPILED,
                                  acting_user=personas.dana)
    assert (story.title, story.ink_source) == ("Lights Out", "")


def test_an_auditor_sees_the_studios_stories_but_does_not_author(personas, django_user_model):
    auditor = django_user_model.objects.create_user(username="ava", password="pw-ava-auditor")
    consent_services.membership_add(organization=personas.studio, user=auditor, role=Membership.Role.AUDITOR,
                                    acting_user=personas.dana)
    story = create(personas)
    assert selectors.story_get_for_user(user=auditor, story_id=story.id) == story
    with pytest.raises(NotAllowed) as refused:
        create(personas, user=auditor)
    assert (refused.value.code, refused.value.message) == (
        "not_allowed", "Only the studio's producers and legal staff author its stories.")
    with pytest.raises(NotAllowed):
        services.story_role_cast(role=role(story, "friend"), viewer=True, acting_user=auditor)


def test_a_broken_story_is_refused_naming_every_line_and_nothing_is_stored(personas):
    source, compiled = variant("seconds: 2.5", "seconds: forever")
    source, compiled = source.replace("# prompt: a weathered wooden door with an iron knocker", "# prompt:"), \
        compiled.replace('"^prompt: a weathered wooden door with an iron knocker"', '"^prompt:"')
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        create(personas, source=source, compiled=compiled)
    seconds_line, prompt_line = line_of("# seconds: forever", source), line_of("# prompt:", source)
    assert refused.value.field == "ink_source"
    assert [e["line"] for e in refused.value.errors] == [seconds_line, prompt_line]
    assert refused.value.message.startswith("The story cannot be used as it is: ")
    assert f"line {seconds_line}: scene 'cliff_path': seconds 'forever'" in refused.value.message
    assert f"line {prompt_line}: scene 'keeper_door' has an empty prompt" in refused.value.message
    assert (Story.objects.count(), StoryRole.objects.count(), AuditEvent.objects.count()) == (0, 0, events)


def test_a_role_name_that_is_not_a_slug_is_refused(personas):
    source = SOURCE.replace("# cast: lead, friend", "# cast: lead, Best Friend")
    compiled = COMPILED.replace('"^cast: lead, friend"', '"^cast: lead, Best Friend"')
    with pytest.raises(ValidationFailed) as refused:
        create(personas, source=source, compiled=compiled)
    assert refused.value.errors == [{"line": None, "message": "The role name 'Best Friend' is not a short lowercase "
                                                              "slug (letters, digits, - and _)."}]
    assert Story.objects.count() == 0


@pytest.mark.parametrize("compiled", ["", "not json", "{}", '{"inkVersion": 21}'])
def test_text_that_is_not_compiled_ink_is_refused_on_the_compiled_json(personas, compiled):
    with pytest.raises(ValidationFailed) as refused:
        create(personas, compiled=compiled)
    assert refused.value.field == "compiled_json"
    assert refused.value.message.startswith("This is not a compiled Ink story: ")
    assert Story.objects.count() == 0


# --- who sees and casts ---------------------------------------------------------------------------

def test_an_outsider_cannot_see_cast_publish_or_author_for_the_studio(personas, interactive_license):
    story = create(personas)
    assert list(selectors.stories_for_user(user=personas.charlie)) == []
    assert list(selectors.stories_for_user(user=personas.bob)) == [story]
    with pytest.raises(Http404):
        selectors.story_get_for_user(user=personas.charlie, story_id=story.id)
    with pytest.raises(Http404):
        selectors.story_role_get_for_user(user=personas.charlie, role_id=role(story, "lead").id)
    for attempt in (
        lambda: services.story_role_cast(role=role(story, "lead"), license=interactive_license,
                                         acting_user=personas.charlie),
        lambda: services.story_role_cast(role=role(story, "friend"), viewer=True, acting_user=personas.charlie),
        lambda: services.story_publish(story=story, acting_user=personas.charlie),
        lambda: create(personas, user=personas.charlie),
    ):
        with pytest.raises(NotAllowed) as refused:
            attempt()
        assert refused.value.code == "not_found"
    assert not StoryRole.objects.filter(story=story).exclude(kind="").exists()
    assert story_actions(story) == ["story.created"]


@pytest.mark.parametrize("story_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", None])
def test_an_unknown_story_is_a_404(personas, story_id):
    with pytest.raises(Http404):
        selectors.story_get_for_user(user=personas.bob, story_id=story_id)


def test_casting_under_a_license_without_interactive_use_is_refused_with_the_gates_reason(personas):
    license = make_license(personas)  # interactive use not granted
    story = create(personas)
    with pytest.raises(gate.ConsentRefused) as refused:
        services.story_role_cast(role=role(story, "lead"), license=license, acting_user=personas.bob)
    assert refused.value.decision.reason == gate.Reason.INTERACTIVE_NOT_PERMITTED
    assert refused.value.message == "The license does not allow interactive use."
    assert (role(story, "lead").kind, role(story, "lead").license) == ("", None)
    assert story_actions(story) == ["story.created", "consent.gate_refused"]


def test_casting_under_another_studios_license_is_refused(personas, django_user_model):
    verify_identity(personas, personas.talent)
    harbour_legal = django_user_model.objects.create_user(username="hal", password="pw-hal-legal")
    consent_services.membership_add(organization=personas.other_studio, user=harbour_legal,
                                    role=Membership.Role.LEGAL, acting_user=harbour_legal)
    today = timezone.localdate()
    theirs = consent_services.license_draft(
        talent=personas.talent, licensee=personas.other_studio, acting_user=harbour_legal,
        **{**LICENSE_TERMS, "permitted_media": ["video"], "interactive": True, "starts_on": today,
           "ends_on": today + timedelta(days=30), "max_renders": 5, "excluded_categories": []})
    story = create(personas)
    with pytest.raises(ValidationFailed) as refused:
        services.story_role_cast(role=role(story, "lead"), license=theirs, acting_user=personas.bob)
    assert (refused.value.field, refused.value.message) == ("license", "The story's studio does not hold this license.")
    assert role(story, "lead").kind == ""


def test_a_role_is_cast_either_under_a_license_or_as_the_viewers(personas, interactive_license):
    story = create(personas)
    for kwargs in ({}, {"license": interactive_license, "viewer": True}):
        with pytest.raises(ValidationFailed) as refused:
            services.story_role_cast(role=role(story, "lead"), acting_user=personas.bob, **kwargs)
        assert refused.value.field == "license"


def test_a_role_may_be_recast_while_the_story_is_a_draft(personas, interactive_license):
    story = create(personas)
    services.story_role_cast(role=role(story, "friend"), viewer=True, acting_user=personas.bob)
    services.story_role_cast(role=role(story, "friend"), license=interactive_license, acting_user=personas.bob)
    assert (role(story, "friend").kind, role(story, "friend").license) == ("talent", interactive_license)


def test_the_database_keeps_a_license_on_talent_roles_only(personas, interactive_license):
    story = create(personas)
    for kind, license in (("talent", None), ("viewer", interactive_license), ("", interactive_license)):
        with pytest.raises(IntegrityError), transaction.atomic():
            StoryRole.objects.filter(pk=role(story, "lead").pk).update(kind=kind, license=license)


# --- publishing -----------------------------------------------------------------------------------

def test_publishing_with_an_uncast_role_is_refused_naming_the_scene_lines(personas, interactive_license):
    story = create(personas)
    services.story_role_cast(role=role(story, "lead"), license=interactive_license, acting_user=personas.bob)
    with pytest.raises(ValidationFailed) as refused:
        services.story_publish(story=story, acting_user=personas.bob)
    lines = [n for n, line in enumerate(SOURCE.splitlines(), start=1) if line == "# cast: lead, friend"]
    assert len(lines) == 3
    assert refused.value.field == "roles"
    assert [e["line"] for e in refused.value.errors] == lines
    assert [e["message"] for e in refused.value.errors] == [
        f"scene '{knot}': role 'friend' is not cast" for knot in ("pier_talk", "keeper_door", "ending_light")]
    assert refused.value.message == "Cast every role before publishing: " + "; ".join(
        f"line {n}: scene '{knot}': role 'friend' is not cast"
        for n, knot in zip(lines, ("pier_talk", "keeper_door", "ending_light")))
    story.refresh_from_db()
    assert (story.status, story.published_at) == (Story.Status.DRAFT, None)


def test_without_source_the_uncast_scenes_are_named_without_lines(personas):
    story = create(personas, source="")
    with pytest.raises(ValidationFailed) as refused:
        services.story_publish(story=story, acting_user=personas.bob)
    assert {e["line"] for e in refused.value.errors} == {None}
    assert len(refused.value.errors) == 8 + 3  # every scene lacks its lead, three their friend


def test_a_scene_touching_a_category_the_license_excludes_is_refused_naming_scene_and_role(personas,
                                                                                          interactive_license):
    source, compiled = variant("prompt: two friends talking on a wooden pier, gulls overhead",
                               "prompt: two friends at an election rally on a wooden pier")
    story = create(personas, source=source, compiled=compiled)
    cast_correctly(personas, story, interactive_license)
    with pytest.raises(ValidationFailed) as refused:
        services.story_publish(story=story, acting_user=personas.bob)
    line = line_of("=== pier_talk ===", source)
    message = (f"scene 'pier_talk' (line {line}), role lead: "
               "The prompt touches the excluded category 'political' ('election').")
    assert refused.value.errors == [{"scene": "pier_talk", "line": line, "role": "lead",
                                     "license": str(interactive_license.id), "reason": "excluded_content",
                                     "message": message}]
    assert refused.value.message == "The consent gate refuses this story: " + message
    story.refresh_from_db()
    assert story.status == Story.Status.DRAFT
    assert story_actions(story)[-1] == "consent.gate_refused"


def test_a_revoked_license_refuses_every_scene_of_its_role_at_publish(personas, interactive_license):
    story = create(personas)
    cast_correctly(personas, story, interactive_license)
    consent_services.license_revoke(license=interactive_license, reason="Withdrawn.", acting_user=personas.alice)
    with pytest.raises(ValidationFailed) as refused:
        services.story_publish(story=story, acting_user=personas.bob)
    assert [(e["scene"], e["role"], e["reason"]) for e in refused.value.errors] == [
        (knot, "lead", "license_revoked") for knot in LEAD_SCENES]
    assert all(e["message"].endswith("role lead: The talent revoked this license.") for e in refused.value.errors)
    assert Story.objects.get(pk=story.pk).status == Story.Status.DRAFT


def test_a_correct_cast_publishes_and_every_step_is_in_the_audit_log(personas, interactive_license):
    story = create(personas)
    cast_correctly(personas, story, interactive_license)
    published = services.story_publish(story=story, acting_user=personas.bob)
    assert published.status == Story.Status.PUBLISHED and published.published_at is not None
    assert Story.objects.get(pk=story.pk).status == Story.Status.PUBLISHED
    assert story_actions(story) == ["story.created", "story.role_cast", "story.role_cast", "story.published"]
    events = AuditEvent.objects.filter(subject=f"story:{story.id}").order_by("id")
    assert {e.actor for e in events} == {f"user:{personas.bob.pk}"}
    assert [json.loads(e.body)["data"] for e in events][1:] == [
        {"role": "lead", "kind": "talent", "license": str(interactive_license.id)},
        {"role": "friend", "kind": "viewer", "license": None},
        {"roles": {"friend": "viewer", "lead": str(interactive_license.id)}},
    ]


def test_a_published_story_is_neither_published_again_nor_recast(personas, interactive_license):
    story = create(personas)
    cast_correctly(personas, story, interactive_license)
    services.story_publish(story=story, acting_user=personas.bob)
    with pytest.raises(InvalidTransition, match="This story is published: only a draft can be published."):
        services.story_publish(story=story, acting_user=personas.dana)
    with pytest.raises(InvalidTransition, match="only a draft can be cast"):
        services.story_role_cast(role=role(story, "friend"), viewer=True, acting_user=personas.bob)
    assert story_actions(story).count("story.published") == 1


def test_a_story_too_slow_to_check_is_refused_within_the_budget_and_stores_nothing(personas, monkeypatch):
    from stories import ink

    monkeypatch.setattr(ink, "OUTLINE_SECONDS", 0.0)  # as if every line took the whole budget
    with pytest.raises(ValidationFailed) as refused:
        services.story_create(organization=personas.studio, title="", compiled_json=COMPILED, ink_source=SOURCE,
                              acting_user=personas.bob)
    assert "playing every path took longer than 0 s" in refused.value.message
    assert not Story.objects.exists() and not StoryRole.objects.exists()


def test_a_stored_storys_outline_is_played_once_per_text_and_then_read_from_the_cache(personas, monkeypatch,
                                                                                        empty_cache):
    story = create(personas)
    calls = []
    real = selectors.story_outline
    monkeypatch.setattr(selectors, "story_outline", lambda *a, **k: calls.append(1) or real(*a, **k))
    first, second = selectors.story_outline_of(story=story), selectors.story_outline_of(story=story)
    assert first.scenes.keys() == second.scenes.keys() and len(calls) == 1
    story.ink_source += "\n// an edit"
    selectors.story_outline_of(story=story)
    assert len(calls) == 2  # another text, another outline
