"""Viewers for tests: a signed-up viewer, her photos and capture (real faces shipped inside
scikit-image and matplotlib), and her consent to star in a story."""

from __future__ import annotations

from datetime import date

import numpy as np
import skimage.data
from matplotlib import cbook
from PIL import Image

from bespoke.demo_cast import face_jpeg as jpeg

VIEWER_BIRTH_DATE = date(1994, 6, 1)
#: Eileen Collins (scikit-image's ``astronaut``) plays the viewer; Grace Hopper (matplotlib's sample) is
#: the only other real person available offline, so she is "someone else".
ASTRONAUT = skimage.data.astronaut()
HOPPER = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))


def make_viewer(django_user_model, name: str = "vera"):  # type: ignore[no-untyped-def]
    from consent.viewers import viewer_register

    user = django_user_model.objects.create_user(username=name, password="pw-" + name * 3, email=f"{name}@example.org")
    return viewer_register(user=user, display_name=name.title(), birth_date=VIEWER_BIRTH_DATE, acting_user=user)


def add_photos(talent, face: np.ndarray = ASTRONAUT) -> None:  # type: ignore[no-untyped-def]
    """Four photos of one face, as a viewer would add them (the demo's viewer gets the same)."""
    from consent.services import reference_photo_add

    copies = (jpeg(face), jpeg(face, mirror=True, quality=75), jpeg(face, scale=0.9), jpeg(face, mirror=True, scale=0.8))
    for index, data in enumerate(copies):
        reference_photo_add(talent=talent, data=data, filename=f"me-{index}.jpg", acting_user=talent.user)


def pass_face_check(talent):  # type: ignore[no-untyped-def]
    from consent.viewers import face_check_submit

    add_photos(talent)
    return face_check_submit(capture=jpeg(ASTRONAUT, scale=0.8, quality=70), filename="capture.jpg",
                             acting_user=talent.user)


def viewer_consent(talent, story, *, scope: str = "story", requires_use_approval: bool = False):  # type: ignore[no-untyped-def]
    from consent.services import SignatureContext
    from consent.viewers import StandingOffer, viewer_license_sign, viewer_license_text
    from consent.terms import text_sha256

    offer = StandingOffer(licensee=story.organization, story_id=str(story.pk), story_title=story.title)
    text = viewer_license_text(talent=talent, offer=offer, scope=scope, requires_use_approval=requires_use_approval)
    context = SignatureContext(text_sha256_seen=text_sha256(text), disclosure_accepted=True,
                               authentication_method="password", ip_address="192.0.2.7", user_agent="pytest")
    return viewer_license_sign(offer=offer, scope=scope, context=context, acting_user=talent.user,
                               requires_use_approval=requires_use_approval)


def published_story(personas, talent_license, *, viewer_role: str = "lead", talent_role: str = "friend"):  # type: ignore[no-untyped-def]
    """The demo story (Harbour Lights) by Bob for Northlight: the viewer stars as the lead, Alice plays the friend."""
    from stories import services
    from stories.models import StoryRole
    from tests.stories import story_file

    story = services.story_create(organization=personas.studio, title="", acting_user=personas.bob,
                                  compiled_json=story_file("harbour.json").read_text(encoding="utf-8"),
                                  ink_source=story_file("harbour.ink").read_text(encoding="utf-8"))
    services.story_role_cast(role=StoryRole.objects.get(story=story, name=viewer_role), viewer=True,
                             acting_user=personas.bob)
    services.story_role_cast(role=StoryRole.objects.get(story=story, name=talent_role), license=talent_license,
                             acting_user=personas.bob)
    return services.story_publish(story=story, acting_user=personas.bob)
