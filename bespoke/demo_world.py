"""The cast `manage.py demo` acts with: its own verification desk, studios, staff, talent and
performer, and its own copy of the demo story.

The demo runs beside a portal people may be using (it can leave its renders to the portal's
worker), so it never touches the portal's demo accounts (alice, bob, dana, ...) or their
organisations: its licenses, renders, revocations and audit events belong to organisations
and people no one signs in as (their accounts have no usable password).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from consent import services as consent
from consent.models import LikenessLicense, Membership, Organization, Talent
from stories import services as stories
from stories.models import Story
from bespoke.demo_cast import demo_performer_license

STUDIO = "Bespoke Demo Studio"
OTHER_STUDIO = "Bespoke Demo Outsiders"
DESK = "Bespoke Demo Verification Desk"
# username: (first name, last name, organisation, role); the talent and the performer belong to none.
ACCOUNTS: dict[str, tuple[str, str, str | None, str | None]] = {
    "demo-talent": ("Ada", "Demo", None, None),
    "demo-performer": ("Theo", "Demo", None, None),
    "demo-legal": ("Lee", "Demo", STUDIO, Membership.Role.LEGAL),
    "demo-legal-2": ("Lou", "Demo", STUDIO, Membership.Role.LEGAL),
    "demo-producer": ("Pat", "Demo", STUDIO, Membership.Role.PRODUCER),
    "demo-outsider": ("Oli", "Demo", OTHER_STUDIO, Membership.Role.PRODUCER),
    "demo-verifier": ("Vic", "Demo", DESK, Membership.Role.VERIFIER),
    "demo-verifier-2": ("Val", "Demo", DESK, Membership.Role.VERIFIER),
}
STORY = Path(stories.__file__).resolve().parent / "demo" / "harbour"  # .ink and the .json inkjs compiled


@dataclass(frozen=True)
class DemoWorld:
    talent: Talent
    studio: Organization
    users: dict[str, Any]  # by username, as in ACCOUNTS

    def user(self, username: str) -> Any:
        return self.users[username]


@transaction.atomic
def demo_world() -> DemoWorld:
    """The demo's organisations, accounts and talent (made once; found after)."""
    User = get_user_model()
    users = {}
    for username, (first, last, _, _) in ACCOUNTS.items():
        user, created = User.objects.get_or_create(username=username, defaults={"first_name": first, "last_name": last})
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        users[username] = user
    founders = {STUDIO: users["demo-legal"], OTHER_STUDIO: users["demo-outsider"], DESK: users["demo-verifier"]}
    organizations = {}
    for name, founder in founders.items():
        kind = Organization.Kind.OPERATOR if name == DESK else Organization.Kind.STUDIO
        organizations[name] = Organization.objects.filter(name=name).first() or consent.organization_create(
            name=name, kind=kind, acting_user=founder)
    for username, (_, _, organization_name, role) in ACCOUNTS.items():
        if organization_name is None:
            continue
        organization = organizations[organization_name]
        if not Membership.objects.filter(user=users[username], organization=organization, role=role).exists():
            consent.membership_add(organization=organization, user=users[username], role=role,
                                   acting_user=founders[organization_name])
    talent = Talent.objects.filter(user=users["demo-talent"]).first() or consent.talent_enrol(
        user=users["demo-talent"], display_name="Ada Demo", acting_user=users["demo-talent"],
        invited_by=organizations[STUDIO])
    return DemoWorld(talent=talent, studio=organizations[STUDIO], users=users)


def demo_world_story(world: DemoWorld) -> Story:
    """The demo studio's own Harbour Lights, published for one run of the demo (which withdraws it
    when done, so that it is on viewers' list of stories only while the demo plays it): the viewer
    stars as the lead and the demo's performer plays the friend."""
    compiled = STORY.with_suffix(".json").read_text(encoding="utf-8")
    story = (Story.objects.filter(organization=world.studio, compiled_json=compiled)
             .exclude(status=Story.Status.WITHDRAWN).first())
    if story is not None and story.status == Story.Status.PUBLISHED:
        return story
    producer = world.user("demo-producer")
    if story is None:
        story = stories.story_create(organization=world.studio, title="", compiled_json=compiled,
                                     ink_source=STORY.with_suffix(".ink").read_text(encoding="utf-8"),
                                     acting_user=producer)
    friend = _performer_license(world)
    roles = {role.name: role for role in story.roles.all()}
    stories.story_role_cast(role=roles["lead"], viewer=True, acting_user=producer)
    stories.story_role_cast(role=roles["friend"], license=friend, acting_user=producer)
    return stories.story_publish(story=story, acting_user=producer)


def demo_world_story_withdraw(world: DemoWorld, story: Story) -> None:
    stories.story_withdraw(story=story, acting_user=world.user("demo-producer"))


def _performer_license(world: DemoWorld) -> LikenessLicense:
    # demo_performer_license names its signatories by the portal's personas' roles.
    signatories = {"frank": world.user("demo-verifier"), "grace": world.user("demo-verifier-2"),
                   "erin": world.user("demo-legal-2"), "dana": world.user("demo-legal")}
    return demo_performer_license(studio=world.studio, performer=world.user("demo-performer"), users=signatories,
                                  name="Theo Demo")
