"""The demo story's performer: Theo, verified by the desk's two verifiers and signed to an
interactive license with the demo studio, so that the demo story can be published and played."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from consent import desk, services
from consent.models import IdentityVerification, LikenessLicense, Organization, Talent

PERFORMER_BIRTH_DATE = date(1988, 9, 14)


def demo_performer_license(*, studio: Organization, performer: Any, users: dict[str, Any],
                           name: str = "Theo Marsh") -> LikenessLicense:
    """Theo's countersigned interactive license with the studio (made once; found after)."""
    talent = Talent.objects.filter(user=performer).first() or services.talent_enrol(
        user=performer, display_name=name, acting_user=performer, invited_by=studio)
    if not talent.verifications.filter(status=IdentityVerification.Status.APPROVED).exists():
        verification = desk.identity_verification_request(talent=talent, method=IdentityVerification.Method.IN_PERSON,
                                                          acting_user=performer)
        desk.identity_verification_decide(verification=verification, approve=True, acting_user=users["frank"],
                                          legal_name=name, birth_date=PERFORMER_BIRTH_DATE)
        desk.identity_verification_decide(verification=verification, approve=True, acting_user=users["grace"])
    license = LikenessLicense.objects.filter(talent=talent, licensee=studio, interactive=True,
                                             status=LikenessLicense.Status.COUNTERSIGNED).first()
    if license is not None:
        return license
    today = timezone.localdate()
    license = services.license_draft(
        talent=talent, licensee=studio, acting_user=users["erin"], project="Harbour Lights", role="The friend",
        use_description="The friend in the interactive story Harbour Lights: scenes on the pier, at the lighthouse "
                        "door and under the lit lamp, beside the viewer who stars as the lead.",
        permitted_media=["video"], territories=["worldwide"], languages=["en"], interactive=True,
        starts_on=today, ends_on=today + timedelta(days=365), max_renders=1000,
        excluded_categories=["political", "sexual"], compensation_basis="per_render", compensation_rate="40.00",
        compensation_currency="EUR")
    services.license_offer(license=license, acting_user=users["erin"])
    context = services.SignatureContext(text_sha256_seen=license.text_sha256, disclosure_accepted=True,
                                        authentication_method="password")
    services.license_sign(license=license, context=context, acting_user=performer)
    return services.license_countersign(license=license, context=context, acting_user=users["dana"])


DEMO_VIEWER = "wren"  # the demo command's own viewer: the portal's viewer, vera, is left as she is


def demo_viewer() -> Talent:
    """Wren, a viewer made for `manage.py demo` (a real face is needed: scikit-image's astronaut)."""
    from django.contrib.auth import get_user_model

    from consent.viewers import viewer_register

    user, _ = get_user_model().objects.get_or_create(username=DEMO_VIEWER, defaults={"email": "wren@example.com"})
    return Talent.objects.filter(user=user).first() or viewer_register(
        user=user, display_name="Wren Demo", birth_date=date(1992, 3, 8), acting_user=user)


def face_jpeg(rgb: Any, *, quality: int = 90, mirror: bool = False, scale: float = 1.0) -> bytes:
    """A face photo as a JPEG file's bytes, optionally mirrored and scaled (a photo a viewer would take)."""
    import io

    from PIL import Image

    image = Image.fromarray(rgb[:, ::-1] if mirror else rgb)
    if scale != 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def demo_viewer_face_check(viewer: Talent) -> Any:
    """Four photos and a capture of one real face (Eileen Collins, from scikit-image's sample data)."""
    try:
        import skimage.data
    except ImportError as missing:  # a development dependency: ./dev setup installs it
        raise RuntimeError("the demo's viewer face comes from scikit-image (pip install scikit-image)") from missing

    from consent.viewers import face_check_submit

    face = skimage.data.astronaut()
    if viewer.photos.filter(deleted_at__isnull=True).count() < 4:
        copies = (face_jpeg(face), face_jpeg(face, mirror=True, quality=75), face_jpeg(face, scale=0.9),
                  face_jpeg(face, mirror=True, scale=0.8))
        for index, data in enumerate(copies):
            services.reference_photo_add(talent=viewer, data=data, filename=f"photo-{index}.jpg",
                                         acting_user=viewer.user)
    return face_check_submit(capture=face_jpeg(face, scale=0.8, quality=70), filename="capture.jpg",
                             acting_user=viewer.user)
