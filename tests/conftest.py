"""Shared fixtures: one tiny model of each family and one dev PKI per test run, and the personas.

Personas (as in every authorization test): talent Alice; Bob, producer at Alice's
licensee; Charlie, producer at another studio; Dana and Erin, legal at the licensee;
Frank and Grace, verifiers of the platform operator (outside every studio).
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.test import TransactionTestCase

from audit.db_guard import audit_maintenance

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _flush_with_audit_maintenance(original):  # type: ignore[no-untyped-def]
    """Transactional tests end with a table flush, which the append-only audit guard
    refuses; the test runner takes the deliberate, privileged maintenance path."""

    def teardown(self):  # type: ignore[no-untyped-def]
        from django.db import connections

        with ExitStack() as stack:
            for alias in self._databases_names(include_mirrors=False):
                stack.enter_context(audit_maintenance(connections[alias]))
            original(self)

    return teardown


TransactionTestCase._fixture_teardown = _flush_with_audit_maintenance(TransactionTestCase._fixture_teardown)


SHARED_DIR_ENV = "BESPOKE_TEST_SHARED_DIR"  # ./dev test: one folder for both parts of a run


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every integration test runs alone (it purges the broker's queues, restarts a service,
    cuts a host off or makes databases): `./dev test` runs them after the parallel part."""
    for item in items:
        if item.get_closest_marker("integration") or "integration" in item.path.parts:
            item.add_marker(pytest.mark.serial)


def _shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every process of this test run sees: the one `./dev test` names for both of its
    parts, else the parent of pytest-xdist's workers' temporary folders, else this session's."""
    named = os.environ.get(SHARED_DIR_ENV)
    if named:
        return Path(named)
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def tiny_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny AnimateDiff model, built once per test run by the first process that needs it."""
    from filelock import FileLock

    from generation.pipeline.tiny import build_tiny_model

    shared = _shared_dir(tmp_path_factory)
    root, built = shared / "model" / "tiny", shared / "model" / "tiny.built"
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(shared / "model" / "tiny.lock")):
        if not built.exists():
            build_tiny_model(root)
            built.touch()
    return root


@pytest.fixture(scope="session")
def tiny_wan_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Wan model (text- and image-to-video), built once per run by the first test that needs it."""
    from generation.pipeline.wan_tiny import build_tiny_wan

    root = tmp_path_factory.mktemp("model") / "tiny-wan"
    build_tiny_wan(root)
    return root


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from provenance.pki import create_dev_pki

    directory = tmp_path_factory.mktemp("pki") / "dev"
    create_dev_pki(directory)
    return directory


@pytest.fixture(scope="session")
def dev_tsa(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The dev time-stamping authority, served for the whole run and named by BESPOKE_TSA_URL, in
    settings and in the environment that the processes the tests start inherit."""
    from django.conf import settings as django_settings

    from provenance.pki import create_dev_pki
    from provenance.tsa import running_dev_tsa

    # It starts with a PKI of its own; each test points it at the test's (dev_tsa_url).
    first = create_dev_pki(tmp_path_factory.mktemp("tsa-pki") / "dev").directory
    with running_dev_tsa(first) as tsa, pytest.MonkeyPatch.context() as patch:
        patch.setenv("BESPOKE_TSA_URL", tsa.url)
        patch.setattr(django_settings, "BESPOKE_TSA_URL", tsa.url)
        yield tsa


@pytest.fixture(autouse=True)
def dev_tsa_url(dev_tsa, pki_dir: Path) -> str:  # type: ignore[no-untyped-def]
    """Every output signed in a test is time-stamped by the TSA of the test's dev PKI, so its
    time-stamp is trusted with the same anchor as its signature."""
    dev_tsa.pki_dir = pki_dir
    return dev_tsa.url


@pytest.fixture(autouse=True)
def bespoke_settings(settings, pki_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings.BESPOKE_PKI_DIR = pki_dir
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BESPOKE_AUDIT_CHECKPOINT_KEY = tmp_path / "keys" / "audit-checkpoint.key"
    settings.BESPOKE_AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"
    settings.BESPOKE_PUBLIC_URL = "https://bespoke.test"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed, not security
    return settings


@pytest.fixture(autouse=True)
def audit_seal_mode(request: pytest.FixtureRequest, settings):  # type: ignore[no-untyped-def]
    """A test inside one transaction never commits, so no seal after commit would give its
    audit events their place in the chain: there they are sealed at append (see
    audit.services). Tests that commit seal after commit, as production does."""
    marker = request.node.get_closest_marker("django_db")
    commits = bool(marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
    commits = commits or bool({"transactional_db", "live_server", "django_db_reset_sequences"} & set(request.fixturenames))
    settings.BESPOKE_AUDIT_SEAL_AT_APPEND = not commits


@pytest.fixture
def empty_cache(settings):  # type: ignore[no-untyped-def]
    """Rate-limit counters and used TOTP codes live in the cache: a test that signs in starts empty."""
    from django.core.cache import cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "bespoke-tests"}}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def tiny_model(settings, tiny_model_root: Path) -> Path:  # type: ignore[no-untyped-def]
    settings.BESPOKE_MODEL_BASE = tiny_model_root / "base"
    settings.BESPOKE_MOTION_ADAPTER = tiny_model_root / "motion_adapter"
    settings.BESPOKE_DEVICE = "cpu"
    return tiny_model_root


@pytest.fixture
def tiny_wan(settings, tiny_wan_root: Path) -> Path:  # type: ignore[no-untyped-def]
    """This deployment renders and trains on the wan family, with the tiny Wan model."""
    settings.BESPOKE_MODEL_FAMILY = "wan"
    settings.BESPOKE_MODEL_BASE = tiny_wan_root / "t2v"
    settings.BESPOKE_MODEL_IMAGE_TO_VIDEO = tiny_wan_root / "i2v"
    settings.BESPOKE_DEVICE = "cpu"
    return tiny_wan_root


@dataclass
class Personas:
    alice: object
    bob: object
    charlie: object
    dana: object
    erin: object
    frank: object
    grace: object
    studio: object
    other_studio: object
    operator: object
    talent: object


@pytest.fixture
def personas(db, django_user_model) -> Personas:  # type: ignore[no-untyped-def]
    return personas_create(django_user_model)


def personas_create(user_model) -> Personas:  # type: ignore[no-untyped-def]
    """The personas in the current database (a fixture's, or a child process's own)."""
    from consent import services
    from consent.models import Membership, Organization

    users = {name: user_model.objects.create_user(username=name, password="pw-" + name * 3)
             for name in ("alice", "bob", "charlie", "dana", "erin", "frank", "grace")}
    studio = services.organization_create(name="Northlight Studios", acting_user=users["dana"])
    other = services.organization_create(name="Harbour Pictures", acting_user=users["dana"])
    operator = services.organization_create(name="Bespoke Verification Desk", kind=Organization.Kind.OPERATOR,
                                            acting_user=users["frank"])
    for name in ("frank", "grace"):
        services.membership_add(organization=operator, user=users[name], role=Membership.Role.VERIFIER,
                                acting_user=users["frank"])
    for user, org, role in ((users["dana"], studio, Membership.Role.LEGAL), (users["erin"], studio, Membership.Role.LEGAL),
                            (users["bob"], studio, Membership.Role.PRODUCER), (users["charlie"], other, Membership.Role.PRODUCER)):
        services.membership_add(organization=org, user=user, role=role, acting_user=users["dana"])
    talent = services.talent_enrol(user=users["alice"], display_name="Alice Avery", acting_user=users["alice"],
                                   invited_by=studio)
    return Personas(**users, studio=studio, other_studio=other, operator=operator, talent=talent)


LICENSE_TERMS = {
    "project": "Night Market", "role": "Mara",
    "use_description": "Lead role 'Mara' in the short film Night Market: walking and close-up scenes.",
    "territories": ["worldwide"], "languages": ["en"], "compensation_basis": "per_render",
    "compensation_rate": "250.00", "compensation_currency": "EUR",
}


def sign_context(license, method: str = "mfa"):  # type: ignore[no-untyped-def]
    from consent.services import SignatureContext

    return SignatureContext(text_sha256_seen=license.text_sha256, disclosure_accepted=True, authentication_method=method,
                            ip_address="192.0.2.1", user_agent="pytest")


ADULT_BIRTH_DATE = date(1990, 4, 2)


def verify_identity(personas: Personas, talent, *, birth_date: date = ADULT_BIRTH_DATE):  # type: ignore[no-untyped-def]
    """The desk verifies a talent in person: Frank records the facts, Grace confirms them."""
    from consent import desk
    from consent.models import IdentityVerification

    approved = talent.verifications.filter(status=IdentityVerification.Status.APPROVED).first()
    if approved is not None:
        return approved
    verification = desk.identity_verification_request(talent=talent, method=IdentityVerification.Method.IN_PERSON,
                                                      acting_user=talent.user)
    desk.identity_verification_decide(verification=verification, approve=True, acting_user=personas.frank,
                                      legal_name=talent.display_name, birth_date=birth_date)
    return desk.identity_verification_decide(verification=verification, approve=True, acting_user=personas.grace)


def approve_representation(personas: Personas, representation, *, died_on: date | None = None):  # type: ignore[no-untyped-def]
    """The representative uploads their evidence; Frank records the facts, Grace confirms."""
    from consent import desk
    from tests.consent.evidence import evidence_files

    for kind, (name, data) in evidence_files().items():
        desk.representation_evidence_add(representation=representation, kind=kind, data=data, filename=name,
                                         acting_user=representation.representative)
    desk.representation_decide(representation=representation, approve=True, acting_user=personas.frank,
                               legal_name=f"{representation.representative.username.title()} Example",
                               talent_died_on=died_on)
    return desk.representation_decide(representation=representation, approve=True, acting_user=personas.grace)


def make_license(personas: Personas, *, verified: bool = True, offered: bool = True, signed: bool = True,
                 countersigned: bool = True, starts_in_days: int = 0, days: int = 365, max_renders: int = 5,
                 media: tuple[str, ...] = ("video",), excluded: tuple[str, ...] = ("political", "sexual"),
                 **terms: object):  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from consent import services

    if verified:
        verify_identity(personas, personas.talent)
    today = timezone.localdate()
    license = services.license_draft(
        talent=personas.talent, licensee=personas.studio, acting_user=personas.erin,
        **{**LICENSE_TERMS, "permitted_media": list(media), "starts_on": today + timedelta(days=starts_in_days),
           "ends_on": today + timedelta(days=starts_in_days + days), "max_renders": max_renders,
           "excluded_categories": list(excluded), **terms},
    )
    if offered:
        license = services.license_offer(license=license, acting_user=personas.erin)
    if signed:
        license = services.license_sign(license=license, context=sign_context(license), acting_user=personas.alice)
    if countersigned:
        license = services.license_countersign(license=license, context=sign_context(license), acting_user=personas.dana)
    return license


@pytest.fixture
def active_license(personas: Personas):  # type: ignore[no-untyped-def]
    return make_license(personas)


SMALL_RENDER = {"num_frames": 4, "width": 128, "height": 128, "steps": 3, "fps": 4}
