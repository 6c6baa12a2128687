"""Set up a Bespoke installation: database, model, signing PKI and (development only) demo data."""

from datetime import date
from pathlib import Path
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.services import totp_enrol
from core.secure_files import create_private_dir
from consent import services as consent
from consent.license_templates import license_templates_install_built_in
from consent.models import Membership, Organization, Talent
from consent.viewers import viewer_register
from generation.pipeline.families import ModelPaths, family_for
from generation.pipeline.single_file import sd15_config_folder
from generation.pipeline.tiny import build_tiny_model, tiny_model_present
from generation.pipeline.wan_tiny import tiny_wan_present
from provenance.pki import create_dev_pki, pki_is_usable
from stories import services as stories
from stories.models import Story
from bespoke.demo_cast import demo_performer_license

DEMO_PASSWORD = "bespoke-demo"
LICENSEE = "Northlight Studios"
OTHER_STUDIO = "Harbour Pictures"
OPERATOR = "Bespoke Verification Desk"
DEMO_USERS = {
    "alice": ("Alice", "Avery", "alice@example.com"),
    "bob": ("Bob", "Baker", "bob@example.com"),
    "charlie": ("Charlie", "Chen", "charlie@example.com"),
    "dana": ("Dana", "Diaz", "dana@example.com"),
    "erin": ("Erin", "Evans", "erin@example.com"),
    "frank": ("Frank", "Fischer", "frank@example.com"),
    "grace": ("Grace", "Gomez", "grace@example.com"),
    "vera": ("Vera", "Vance", "vera@example.com"),
    "theo": ("Theo", "Marsh", "theo@example.com"),
}
DEMO_ROLES = [  # (user, organisation, role)
    ("dana", LICENSEE, Membership.Role.LEGAL),
    ("erin", LICENSEE, Membership.Role.LEGAL),
    ("bob", LICENSEE, Membership.Role.PRODUCER),
    ("charlie", OTHER_STUDIO, Membership.Role.PRODUCER),
    ("frank", OPERATOR, Membership.Role.VERIFIER),
    ("grace", OPERATOR, Membership.Role.VERIFIER),
]
DEMO_STORY = Path(stories.__file__).resolve().parent / "demo" / "harbour"  # .ink and the .json inkjs compiled
MFA_USERS = ("alice", "dana", "erin", "frank", "grace")  # legal and verifiers must use MFA; talent need it to sign
VIEWER_BIRTH_DATE = date(1994, 6, 3)  # vera's, as she declared it signing up


class Command(BaseCommand):
    help = "Migrate, build the tiny model, create the dev signing PKI and the demo accounts. Idempotent."

    def handle(self, *args: object, **options: object) -> None:
        create_private_dir(settings.DATA_DIR)
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        self._broker()
        self._model()
        self._pki()
        if settings.PRODUCTION:
            self.stdout.write("production mode: no demo data created")
            return
        self._demo_data()

    def _broker(self) -> None:
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get(key)
            if folder:
                Path(folder).mkdir(parents=True, exist_ok=True)

    def _model(self) -> None:
        if settings.BESPOKE_MODEL_FAMILY == "wan":
            self._wan_model()
            return
        base, adapter = Path(settings.BESPOKE_MODEL_BASE), Path(settings.BESPOKE_MOTION_ADAPTER)
        if base.suffix == ".safetensors":
            config = Path(settings.BESPOKE_MODEL_CONFIG)
            if not (config / "model_index.json").is_file():
                sd15_config_folder(config)
                self.stdout.write(f"SD 1.5 config folder (with the CLIP tokenizer) written to {config}")
            if not base.is_file() or not adapter.is_dir():
                raise CommandError(f"{base} or {adapter} does not exist")
            self.stdout.write(f"model present: {base} + {adapter}")
            return
        if base.is_dir() and adapter.is_dir():
            self.stdout.write(f"model present: {base} + {adapter}")
            return
        tiny_root = base.parent
        if base != tiny_root / "base" or adapter != tiny_root / "motion_adapter" or settings.PRODUCTION:
            raise CommandError(f"model folders {base} and {adapter} do not exist; point BESPOKE_MODEL_BASE and "
                               "BESPOKE_MOTION_ADAPTER at local diffusers folders")
        if not tiny_model_present(tiny_root):
            build_tiny_model(tiny_root)
        self.stdout.write(f"tiny model built in {tiny_root}")

    def _wan_model(self) -> None:
        wan = family_for("wan")
        folders = wan.spec_for(ModelPaths(base=settings.BESPOKE_MODEL_BASE,
                                          image_to_video=settings.BESPOKE_MODEL_IMAGE_TO_VIDEO)).roots()
        if all((folder / "model_index.json").is_file() for folder in folders):
            self.stdout.write(f"model present: {' + '.join(map(str, folders))}")
            return
        tiny_root = folders[0].parent
        if folders != wan.tiny_spec(tiny_root).roots() or settings.PRODUCTION:
            raise CommandError(f"model folders {', '.join(map(str, folders))} do not exist; point BESPOKE_MODEL_BASE "
                               "(and BESPOKE_MODEL_IMAGE_TO_VIDEO) at local Wan diffusers folders")
        if not tiny_wan_present(tiny_root):
            wan.build_tiny(tiny_root)
        self.stdout.write(f"tiny Wan model built in {tiny_root}")

    def _pki(self) -> None:
        if pki_is_usable(settings.BESPOKE_PKI_DIR, with_tsa=not settings.PRODUCTION):
            self.stdout.write(f"signing PKI present in {settings.BESPOKE_PKI_DIR}")
            return
        if settings.PRODUCTION:
            raise CommandError(f"no usable signing certificate and key in {settings.BESPOKE_PKI_DIR}")
        create_dev_pki(settings.BESPOKE_PKI_DIR)
        self.stdout.write(f"dev signing CA and signer created in {settings.BESPOKE_PKI_DIR}")

    @transaction.atomic
    def _demo_data(self) -> None:
        User = get_user_model()
        users = {}
        for username, (first, last, email) in DEMO_USERS.items():
            user, created = User.objects.get_or_create(username=username, defaults={
                "first_name": first, "last_name": last, "email": email})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
            users[username] = user
        organizations = {}
        for name in (LICENSEE, OTHER_STUDIO):
            organizations[name] = Organization.objects.filter(name=name).first() or \
                consent.organization_create(name=name, acting_user=users["dana"])
            if not organizations[name].license_templates.exists():  # made before templates existed
                license_templates_install_built_in(organization=organizations[name], acting_user=users["dana"])
        organizations[OPERATOR] = Organization.objects.filter(name=OPERATOR).first() or consent.organization_create(
            name=OPERATOR, kind=Organization.Kind.OPERATOR, acting_user=users["frank"])
        for username, org_name, role in DEMO_ROLES:
            organization = organizations[org_name]
            if not Membership.objects.filter(user=users[username], organization=organization, role=role).exists():
                consent.membership_add(organization=organization, user=users[username], role=role,
                                       acting_user=users["frank" if role == Membership.Role.VERIFIER else "dana"])
        if not Talent.objects.filter(user=users["alice"]).exists():
            consent.talent_enrol(user=users["alice"], display_name="Alice Avery", acting_user=users["alice"],
                                 invited_by=organizations[LICENSEE])
        # a data folder made before talents recorded who invited them
        Talent.objects.filter(user=users["alice"], invited_by__isnull=True).update(invited_by=organizations[LICENSEE])
        if not Talent.objects.filter(user=users["vera"]).exists():
            viewer_register(user=users["vera"], display_name="Vera Vance", birth_date=VIEWER_BIRTH_DATE,
                            acting_user=users["vera"])
        self._demo_story(organizations[LICENSEE], users)
        self.stdout.write(f"demo accounts ready (password {DEMO_PASSWORD!r}): talent alice; producers bob "
                          f"({LICENSEE}) and charlie ({OTHER_STUDIO}); legal dana and erin ({LICENSEE}); verifiers "
                          f"frank and grace ({OPERATOR}); vera, a viewer")
        for username in MFA_USERS:
            self.stdout.write(f"demo TOTP secret for {username}: {totp_enrol(user=users[username])}")

    def _demo_story(self, studio: Organization, users: dict[str, Any]) -> None:
        """The demo story, published by the studio's producer: the viewer stars as the lead, and Theo,
        a performer the desk verified, plays the friend under his interactive license."""
        source = DEMO_STORY.with_suffix(".ink").read_text(encoding="utf-8")
        compiled = DEMO_STORY.with_suffix(".json").read_text(encoding="utf-8")
        story = Story.objects.filter(organization=studio, compiled_json=compiled).first()
        if story is not None and story.status != Story.Status.DRAFT:
            return
        if story is None:
            story = stories.story_create(organization=studio, title="", compiled_json=compiled, ink_source=source,
                                         acting_user=users["bob"])
        friend_license = demo_performer_license(studio=studio, performer=users["theo"], users=users)
        roles = {role.name: role for role in story.roles.all()}
        stories.story_role_cast(role=roles["lead"], viewer=True, acting_user=users["bob"])
        stories.story_role_cast(role=roles["friend"], license=friend_license, acting_user=users["bob"])
        stories.story_publish(story=story, acting_user=users["bob"])
        self.stdout.write(f"demo story “{story.title}” published for {studio.name}: vera stars as the lead, "
                          "theo plays the friend")
