"""The talent's own pages (my likeness, reference photos, export, erasure) and the producer's
render controls (cancel, time left, in-page preview): scope (404), plain errors beside their
fields, CSRF, and the same code paths as the API."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from bespoke.synthetic_faces import synthetic_face_photos
from consent import selectors as consent_selectors, services as consent
from consent.models import LikenessLicense, ReferencePhoto
from generation.models import RenderJob, RenderOutput
from generation.selectors import job_seconds_left
from generation.services import render as renders
from tests.accounts.conftest import totp_code
from tests.conftest import SMALL_RENDER, make_license

pytestmark = pytest.mark.django_db

IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


@pytest.fixture(autouse=True)
def local_cache(empty_cache):  # type: ignore[no-untyped-def]
    """Used TOTP codes and rate-limit counters live in the cache: each test starts empty."""


def _signed_in(user, *, enforce_csrf: bool = False) -> Client:  # type: ignore[no-untyped-def]
    """Signed in with an authenticator app enrolled (legal staff may do nothing without one)."""
    from accounts.services import totp_enrol

    totp_enrol(user=user)
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


def _stepped_up(user) -> Client:  # type: ignore[no-untyped-def]
    """Signed in, with an authenticator app, and just confirmed through allauth's reauthentication page."""
    from accounts.services import totp_enrol

    client = _signed_in(user)
    secret = totp_enrol(user=user)
    assert client.post("/accounts/2fa/reauthenticate/", {"code": totp_code(secret)}).status_code == 302
    return client


def _error_beside(page: str, field: str, message: str) -> None:
    """The message is shown in the field's own block, between its label and its input, and the
    input names it in aria-describedby."""
    match = re.search(rf'<label for="id_{field}">[^<]*</label>(?:(?!<label).)*?'
                      rf'<ul class="errorlist" id="id_{field}_error"><li>([^<]*)</li></ul>\s*(<[^>]*name="{field}"[^>]*>)',
                      page, re.DOTALL)
    assert match, f"no error list beside {field}"
    assert message in match.group(1).replace("&#x27;", "'").replace("&quot;", '"')
    assert re.search(rf'aria-describedby="[^"]*id_{field}_error', match.group(2)), f"{field} does not name its error"


def _publish(license, prompt: str, producer) -> RenderOutput:  # type: ignore[no-untyped-def]
    job = renders.render_job_request(license_id=str(license.id), prompt=prompt, params=SMALL_RENDER,
                                     acting_user=producer)
    renders.render_job_execute(job_id=str(job.id), worker="w")
    return RenderOutput.objects.get(job=job)


def _stored_files(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()} if root.exists() else {}


# My likeness


def test_my_likeness_lists_every_published_use_newest_first_with_a_frame_made_on_request(personas, tiny_model,
                                                                                      settings, monkeypatch):
    license = make_license(personas)
    first = _publish(license, "sks person walking", personas.bob)
    second = _publish(license, "sks person reading", personas.bob)
    waiting = renders.render_job_request(license_id=str(license.id), prompt="sks person waiting",
                                         params=SMALL_RENDER, acting_user=personas.bob)
    alice = _signed_in(personas.alice)

    page = alice.get(reverse("portal-my-likeness")).content.decode()
    assert page.index(str(second.id)) < page.index(str(first.id)), "newest first"
    for output in (first, second):
        assert output.manifest_label in page
        assert reverse("portal-likeness-thumbnail", kwargs={"output_id": output.id}) in page
        assert f'src="{reverse("portal-render-download", kwargs={"job_id": output.job_id})}?inline=1"' in page
    assert "Northlight Studios" in page and reverse("portal-license", kwargs={"license_id": license.id}) in page
    assert str(waiting.id) not in page and "<video controls" in page

    monkeypatch.setattr("bespoke.portal.talent_views.LIKENESS_PAGE_SIZE", 1)
    newest = alice.get(reverse("portal-my-likeness")).content.decode()
    older = alice.get(reverse("portal-my-likeness"), {"page": 2}).content.decode()
    assert str(second.id) in newest and str(first.id) not in newest and "Page 1 of 2" in newest
    assert str(first.id) in older and str(second.id) not in older and "2 published clips" in older

    before = _stored_files(Path(settings.MEDIA_ROOT))
    response = alice.get(reverse("portal-likeness-thumbnail", kwargs={"output_id": first.id}))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert "private" in response["Cache-Control"]
    still = Image.open(io.BytesIO(response.content))
    assert still.format == "JPEG" and still.size == (SMALL_RENDER["width"], SMALL_RENDER["height"])
    after = _stored_files(Path(settings.MEDIA_ROOT))
    assert after == before, "the thumbnail is made on request, never stored"
    assert not [path for path, data in after.items() if data.startswith(IMAGE_MAGIC) or IMAGE_MAGIC[0] in data]


def test_only_the_talent_sees_their_likeness_page_and_its_frames(personas, tiny_model, django_user_model):
    output = _publish(make_license(personas), "sks person walking", personas.bob)
    thumbnail = reverse("portal-likeness-thumbnail", kwargs={"output_id": output.id})
    for user in (personas.bob, personas.charlie, personas.dana):
        client = _signed_in(user)
        assert client.get(reverse("portal-my-likeness")).status_code == 404
        assert client.get(thumbnail).status_code == 404
    hugo = django_user_model.objects.create_user(username="hugo", password="pw-hugohugo")
    consent.talent_enrol(user=hugo, display_name="Hugo Ford", acting_user=hugo)
    other_talent = _signed_in(hugo)
    assert other_talent.get(thumbnail).status_code == 404
    page = other_talent.get(reverse("portal-my-likeness"))
    assert page.status_code == 200 and str(output.id) not in page.content.decode()
    assert "No clip has been made with your likeness yet." in page.content.decode()
    assert _signed_in(personas.alice).get(reverse("portal-likeness-thumbnail",
                                                  kwargs={"output_id": output.job_id})).status_code == 404


# Reference photos


def test_the_talent_adds_a_reference_photo_and_sees_its_record(personas):
    alice = _signed_in(personas.alice)
    upload = io.BytesIO(synthetic_face_photos(1)[0])
    upload.name = "me.jpg"
    response = alice.post(reverse("portal-my-photos"), {"photo": upload})
    assert response.status_code == 302
    photo = ReferencePhoto.objects.get(talent=personas.talent)
    page = alice.get(reverse("portal-my-photos")).content.decode()
    assert "Held now (1)" in page and str(photo.id) in page and f"{photo.width}×{photo.height} pixels" in page
    assert "Photo added." in page


def _image(size: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (120, 90, 60)).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(("name", "data", "message"), [
    ("notes.txt", b"these are not pixels", "Upload a JPEG, PNG or WebP photo."),
    ("me.jpg", b"these are not pixels either", "This is not a JPEG, PNG or WebP image."),
    ("me.png", _image(32), "use one at least 128 pixels on each side"),
    ("me.jpg", _image(256), "The file is named as JPEG but is a PNG image."),
    ("me.png", _image(1024) + b"\0" * 1_100_000, "The file is 1.1 MB; the limit is 1 MB."),
    ("me.png", b"", "The file is empty."),
])
def test_a_refused_photo_is_explained_beside_the_file_field_and_nothing_is_stored(personas, settings, name, data,
                                                                                 message):
    settings.BESPOKE_PHOTO_MAX_BYTES = 1_048_576
    upload = io.BytesIO(data)
    upload.name = name
    response = _signed_in(personas.alice).post(reverse("portal-my-photos"), {"photo": upload})
    assert response.status_code == 400
    _error_beside(response.content.decode(), "photo", message)
    assert not ReferencePhoto.objects.exists()
    assert not _stored_files(Path(settings.MEDIA_ROOT))


def test_an_upload_without_a_file_asks_for_one(personas):
    response = _signed_in(personas.alice).post(reverse("portal-my-photos"), {})
    assert response.status_code == 400
    _error_beside(response.content.decode(), "photo", "Choose a photo to upload.")


@pytest.mark.parametrize("page", ["portal-my-photos", "portal-my-export", "portal-my-erase"])
def test_the_talents_own_pages_are_404_for_everyone_else(personas, page):
    for user in (personas.bob, personas.charlie, personas.dana):
        client = _signed_in(user)
        assert client.get(reverse(page)).status_code == 404
        assert client.post(reverse(page), {"confirmation": "erase my data"}).status_code == 404
    assert not ReferencePhoto.objects.exists() and consent_selectors.talent_erased_at(talent=personas.talent) is None


# Export


def test_the_export_page_explains_it_and_downloads_what_the_api_exports(personas):
    license = make_license(personas)
    job = renders.render_job_request(license_id=str(license.id), prompt="sks person at the market",
                                     params=SMALL_RENDER, acting_user=personas.bob)
    consent.reference_photo_add(talent=personas.talent, data=synthetic_face_photos(1)[0], filename="p.jpg",
                                acting_user=personas.alice)
    alice = _stepped_up(personas.alice)
    page = alice.get(reverse("portal-my-export")).content.decode()
    assert "data.json" in page and "reference_photos/" in page and 'type="submit"' in page

    response = alice.post(reverse("portal-my-export"))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert 'filename="bespoke-export.zip"' in response["Content-Disposition"]
    portal = zipfile.ZipFile(io.BytesIO(response.content))
    api = zipfile.ZipFile(io.BytesIO(alice.post("/api/v1/me/export/").content))
    assert sorted(portal.namelist()) == sorted(api.namelist())
    portal_data, api_data = json.loads(portal.read("data.json")), json.loads(api.read("data.json"))
    assert portal_data.keys() == api_data.keys()
    assert portal_data["renders"] == api_data["renders"] and portal_data["renders"][0]["id"] == str(job.id)
    assert [row["id"] for row in portal_data["licenses"]] == [str(license.id)]


def test_the_export_download_needs_a_fresh_confirmation(personas):
    response = _signed_in(personas.alice).post(reverse("portal-my-export"))
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/reauthenticate/?next=%2Fme%2Fexport%2F"


# Erasure


def test_erasure_shows_its_consequences_first(personas):
    license = make_license(personas)
    consent.reference_photo_add(talent=personas.talent, data=synthetic_face_photos(1)[0], filename="p.jpg",
                                acting_user=personas.alice)
    page = _signed_in(personas.alice).get(reverse("portal-my-erase")).content.decode()
    assert "What is deleted" in page and "Your reference photos (1)" in page
    assert "What is kept, and why" in page and "audit log" in page
    assert "Which licenses are revoked" in page and reverse("portal-license", kwargs={"license_id": license.id}) in page
    assert "Northlight Studios" in page and "does not recall outputs already delivered" in page


@pytest.mark.parametrize(("typed", "message"), [
    ("", "Type “erase my data” to confirm. Nothing was erased."),
    ("erase", "That does not match: type “erase my data” exactly. Nothing was erased."),
])
def test_a_wrong_confirmation_is_explained_and_erases_nothing(personas, typed, message):
    license = make_license(personas)
    response = _stepped_up(personas.alice).post(reverse("portal-my-erase"), {"confirmation": typed})
    assert response.status_code == 400
    _error_beside(response.content.decode(), "confirmation", message)
    license.refresh_from_db()
    assert license.status == LikenessLicense.Status.COUNTERSIGNED
    assert consent_selectors.talent_erased_at(talent=personas.talent) is None


def test_erasure_needs_a_fresh_confirmation_then_revokes_and_shreds(personas):
    license = make_license(personas)
    consent.reference_photo_add(talent=personas.talent, data=synthetic_face_photos(1)[0], filename="p.jpg",
                                acting_user=personas.alice)
    refused = _signed_in(personas.alice).post(reverse("portal-my-erase"), {"confirmation": "erase my data"})
    assert refused.status_code == 302 and refused["Location"].startswith("/accounts/2fa/reauthenticate/")
    assert consent_selectors.talent_erased_at(talent=personas.talent) is None

    alice = _stepped_up(personas.alice)
    response = alice.post(reverse("portal-my-erase"), {"confirmation": "  Erase my  data "}, follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert "Your likeness data was erased: 1 license(s) revoked" in response.content.decode()
    license.refresh_from_db()
    assert license.status == LikenessLicense.Status.REVOKED
    assert consent_selectors.talent_erased_at(talent=personas.talent) is not None
    assert not ReferencePhoto.objects.filter(deleted_at__isnull=True).exists()
    page = alice.get(reverse("portal-my-erase")).content.decode()
    assert "There is nothing more to erase." in page and 'name="confirmation"' not in page


# CSRF


@pytest.mark.parametrize("page", ["portal-my-photos", "portal-my-export", "portal-my-erase"])
def test_the_talents_forms_refuse_a_post_without_the_csrf_token(personas, page):
    license = make_license(personas)
    alice = _signed_in(personas.alice, enforce_csrf=True)
    assert 'name="csrfmiddlewaretoken"' in alice.get(reverse(page)).content.decode()
    assert alice.post(reverse(page), {"confirmation": "erase my data"}).status_code == 403
    license.refresh_from_db()
    assert license.status == LikenessLicense.Status.COUNTERSIGNED


def test_cancel_refuses_a_post_without_the_csrf_token(personas):
    job = renders.render_job_request(license_id=str(make_license(personas).id), prompt="sks person waving",
                                     params=SMALL_RENDER, acting_user=personas.bob)
    bob = _signed_in(personas.bob, enforce_csrf=True)
    assert bob.post(reverse("portal-render-cancel", kwargs={"job_id": job.id})).status_code == 403
    job.refresh_from_db()
    assert job.status == RenderJob.Status.QUEUED


# Production: cancel, time left, preview


def test_the_producer_who_asked_cancels_a_queued_render_and_others_cannot(personas):
    job = renders.render_job_request(license_id=str(make_license(personas).id), prompt="sks person waving",
                                     params=SMALL_RENDER, acting_user=personas.bob)
    cancel = reverse("portal-render-cancel", kwargs={"job_id": job.id})
    bob, alice = _signed_in(personas.bob), _signed_in(personas.alice)
    assert f'action="{cancel}"' in bob.get(reverse("portal-renders")).content.decode()
    fragment = bob.get(reverse("portal-render-progress", kwargs={"job_id": job.id})).content.decode()
    assert f'action="{cancel}"' in fragment
    assert f'action="{cancel}"' not in alice.get(reverse("portal-renders")).content.decode()

    assert _signed_in(personas.charlie).post(cancel).status_code == 404
    refused = alice.post(cancel, follow=True)
    assert "Only the producer who asked for this render, or legal, can cancel it." in refused.content.decode()
    job.refresh_from_db()
    assert job.status == RenderJob.Status.QUEUED

    done = bob.post(cancel, follow=True)
    assert done.redirect_chain == [(reverse("portal-renders"), 302)] and "Cancelled." in done.content.decode()
    job.refresh_from_db()
    assert job.status == RenderJob.Status.CANCELLED
    assert f'action="{cancel}"' not in bob.get(reverse("portal-renders")).content.decode()
    again = bob.post(cancel, follow=True)
    assert "This job already ended (cancelled)." in again.content.decode()


def test_legal_cancels_a_running_render_which_stops_at_its_next_step_and_shows_its_time_left(personas):
    job = renders.render_job_request(license_id=str(make_license(personas).id), prompt="sks person waving",
                                     params=SMALL_RENDER, acting_user=personas.bob)
    claimed = renders.render_job_claim(job_id=str(job.id), worker="w")
    now = timezone.now()
    RenderJob.objects.filter(pk=job.id).update(progress_step=2, progress_total=6,
                                               started_at=now - timedelta(seconds=20), updated_at=now)
    progress = reverse("portal-render-progress", kwargs={"job_id": job.id})
    fragment = _signed_in(personas.erin).get(progress).content.decode()
    left = int(re.search(r'data-seconds-left="(\d+)"', fragment).group(1))
    assert 38 <= left <= 40 and "s left" in fragment  # 10 s a step so far, 4 steps to go

    response = _signed_in(personas.erin).post(reverse("portal-render-cancel", kwargs={"job_id": job.id}), follow=True)
    assert "Cancelling: the render stops at its next step." in response.content.decode()
    job.refresh_from_db()
    assert job.status == RenderJob.Status.RUNNING and job.cancel_requested and job.attempt == claimed.attempt
    fragment = _signed_in(personas.bob).get(progress).content.decode()
    assert "stopping at the next step" in fragment and "Cancel this render" not in fragment


def test_time_left_follows_the_step_rate_so_far():
    now = timezone.now()
    job = RenderJob(status=RenderJob.Status.RUNNING, progress_step=3, progress_total=12,
                    started_at=now - timedelta(seconds=35), updated_at=now - timedelta(seconds=5))
    assert job_seconds_left(job, now=now) == 85  # 10 s a step, 9 steps to go, 5 s since the last report
    job.progress_step = 0
    assert job_seconds_left(job, now=now) is None, "no rate before the first step"
    job.progress_step, job.status = 3, RenderJob.Status.QUEUED
    assert job_seconds_left(job, now=now) is None


def test_a_succeeded_render_plays_in_the_renders_page(personas, tiny_model):
    output = _publish(make_license(personas), "sks person walking", personas.bob)
    clip = f'{reverse("portal-render-download", kwargs={"job_id": output.job_id})}?inline=1'
    page = _signed_in(personas.bob).get(reverse("portal-renders")).content.decode()
    assert re.search(rf'<video controls[^>]*src="{re.escape(clip)}"', page)
    assert "portal-render-cancel" not in page and "/cancel/" not in page
    streamed = _signed_in(personas.bob).get(clip)
    assert streamed.status_code == 200 and "attachment" not in streamed.get("Content-Disposition", "")


def test_the_talent_home_links_to_the_talents_pages(personas):
    links = [reverse(name) for name in ("portal-my-likeness", "portal-my-photos", "portal-my-export",
                                        "portal-my-erase")]
    home = _signed_in(personas.alice).get("/").content.decode()
    assert all(f'href="{link}"' in home for link in links)
    assert not any(link in _signed_in(personas.bob).get("/").content.decode() for link in links)
