"""The whole story, headless: consent, render, label, sign, verify, revoke, refuse.

It acts with its own cast (bespoke.demo_world), never with the portal's demo accounts, so it
can run beside a portal in use without changing what anyone there is looking at."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import date, timedelta
from io import StringIO
from pathlib import Path
from typing import Any, TypeVar

from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from PIL import Image

from audit.checkpoints import audit_checkpoint_write, audit_log_verify
from bespoke.demo_cast import demo_viewer, demo_viewer_face_check
from bespoke.demo_world import demo_world, demo_world_story, demo_world_story_withdraw
from bespoke.management.dev_tsa import dev_time_stamping
from bespoke.synthetic_faces import synthetic_face_photos
from consent import desk, gate
from consent import services as consent
from consent.facts import viewer_face_checked
from consent.models import IdentityVerification, LikenessModel, ReferencePhoto
from consent.terms import text_sha256
from consent.viewers import (
    Scope,
    StandingOffer,
    viewer_license_sign,
    viewer_license_text,
)
from core.errors import ApplicationError
from generation.models import LeasedJob, RenderJob, TrainingJob
from generation.pipeline.video import decode_mp4, encode_mp4
from generation.services.render import render_job_execute, render_job_request
from generation.services.training import training_job_execute, training_job_request
from generation.thumbnails import output_thumbnail_jpeg
from generation.tracing import media_verify
from stories import play
from stories.models import Playthrough, PlaythroughScene, Story

Job = TypeVar("Job", bound=LeasedJob)
PROMPT = "sks person walking through a rainy neon street at night, cinematic"
# The demo story's path: wave to the friend, (on to the cliff), knock, (on to the lamp room), light the lamp.
STORY_PATH: tuple[int | None | bool, ...] = (0, None, 0, None, 0, False)


class Command(BaseCommand):
    help = ("Run the consent-to-provenance story end to end (verify, license, photos, train, render, label, sign, "
            "verify, revoke, refuse) and write the outputs and DIR/report.json.")

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--out", required=True, type=Path, help="folder for the clips and report.json")
        parser.add_argument("--worker", action="store_true",
                            help="leave the render to a running worker (`manage.py serve`) instead of this process")

    def handle(self, *args: object, **options: object) -> None:
        out: Path = options["out"]  # type: ignore[assignment]
        out.mkdir(parents=True, exist_ok=True)
        call_command("bootstrap", verbosity=0, stdout=StringIO())
        with dev_time_stamping():  # what this process signs is time-stamped too, as under `serve`
            self._demo(out, options)

    def _demo(self, out: Path, options: dict[str, object]) -> None:
        self.steps: list[dict[str, Any]] = []
        world = demo_world()
        # The demo's own people in the parts the portal's personas play: the talent (Alice's part), the
        # producer (Bob's), another studio's producer (Charlie's), two legal staff and two verifiers.
        person, producer, outsider, legal, second_legal, verifier, second_verifier = (world.user(n) for n in (
            "demo-talent", "demo-producer", "demo-outsider", "demo-legal", "demo-legal-2", "demo-verifier",
            "demo-verifier-2"))
        talent, studio = world.talent, world.studio

        if not talent.verifications.filter(status=IdentityVerification.Status.APPROVED).exists():
            pending = talent.verifications.filter(status=IdentityVerification.Status.PENDING).first()
            verification = pending or desk.identity_verification_request(
                talent=talent, method=IdentityVerification.Method.VIDEO_CALL, acting_user=person)
            self._step("identity verification requested", actor=person.username, verification=str(verification.id))
            if not verification.evidence.exists():
                document, capture = synthetic_face_photos(2, seed=42)
                desk.identity_evidence_add(verification=verification, kind="id_document", data=document,
                                           filename="id-card.jpg", acting_user=person)
                desk.identity_evidence_add(verification=verification, kind="consent_capture", data=capture,
                                           filename="holding-the-code.jpg", acting_user=person)
            self._step("identity evidence uploaded (sealed)", actor=person.username,
                       challenge_code=verification.challenge_code)
            if verification.first_approved_by_id is None:
                desk.identity_verification_decide(verification=verification, approve=True, acting_user=verifier,
                                                  note="Matched on live call.", legal_name="Ada Demo",
                                                  birth_date=date(1994, 5, 17))
                self._step("identity facts recorded by a first verifier", actor=verifier.username)
            desk.identity_verification_decide(verification=verification, approve=True, acting_user=second_verifier,
                                              note="Confirmed from the sealed evidence.")
        self._step("identity verified by two verifiers of the desk (four eyes)", actor=second_verifier.username)

        today = timezone.localdate()
        license = consent.license_draft(
            talent=talent, licensee=studio, acting_user=second_legal, project="Night Market", role="Mara",
            use_description="Lead role 'Mara' in the short film Night Market: walking, talking and close-up scenes.",
            permitted_media=["video"], territories=["worldwide"], languages=["en", "fr"], starts_on=today,
            ends_on=today + timedelta(days=365), max_renders=5, excluded_categories=["political", "sexual"],
            allows_likeness_model=True, compensation_basis="per_render", compensation_rate="250.00",
            compensation_currency="EUR",
        )
        self._step("license drafted", actor=second_legal.username, license=str(license.id),
                   text_sha256=license.text_sha256)
        consent.license_offer(license=license, acting_user=second_legal)
        self._step("license offered to the talent", actor=second_legal.username)
        consent.license_sign(license=license, context=self._signature(license), acting_user=person)
        self._step("license signed by talent", actor=person.username)
        consent.license_countersign(license=license, context=self._signature(license), acting_user=legal)
        self._step("license countersigned by legal", actor=legal.username)

        photos = ReferencePhoto.objects.filter(talent=talent, deleted_at__isnull=True).count()
        for data in synthetic_face_photos(max(0, 4 - photos), seed=photos):
            consent.reference_photo_add(talent=talent, data=data, filename="portrait.jpg", acting_user=person)
        self._step("reference photos uploaded (sealed)", actor=person.username,
                   photos=ReferencePhoto.objects.filter(talent=talent, deleted_at__isnull=True).count())
        try:
            consent.reference_photo_add(talent=talent, data=b"<html>not a photo</html>", filename="portrait.jpg",
                                        acting_user=person)
            self._step("disguised upload refused", ok=False)
        except ApplicationError as error:
            self._step("disguised upload refused", actor=person.username, message=error.message)

        training = training_job_request(license_id=str(license.id), acting_user=producer,
                                        params={"steps": 60, "num_class_images": 2})
        training = self._run(training, training_job_execute, in_process=not options["worker"])
        if training.status != TrainingJob.Status.SUCCEEDED:
            raise CommandError(f"training ended {training.status}: {training.outcome_code} {training.outcome_message}")
        self._step("likeness model trained (DreamBooth-LoRA)", actor=producer.username, training=str(training.id),
                   likeness_model=str(training.likeness_model_id), steps=len(training.loss_history),
                   eval_loss_before=round(training.eval_loss_before, 4), eval_loss_after=round(training.eval_loss_after, 4),
                   ok=training.eval_loss_after < training.eval_loss_before)

        self._refused("outsider request refused", outsider, license, PROMPT)
        self._refused("excluded-content request refused", producer, license,
                      "sks person giving a speech at an election rally")

        job = render_job_request(license_id=str(license.id), prompt=PROMPT, acting_user=producer,
                                 likeness_model_id=str(training.likeness_model_id))
        self._step("render with the likeness model requested", actor=producer.username, job=str(job.id),
                   params=job.params)
        job = self._run(job, render_job_execute, in_process=not options["worker"])
        if job.status != RenderJob.Status.SUCCEEDED:
            raise CommandError(f"the render ended {job.status}: {job.outcome_code} {job.outcome_message}")
        output = job.output
        clip = out / f"{output.id}.mp4"
        with default_storage.open(output.file.name, "rb") as source, clip.open("wb") as target:
            shutil.copyfileobj(source, target)
        self._step("rendered, labelled and signed", job=str(job.id), output=str(output.id), file=clip.name,
                   sha256=output.sha256, manifest=output.manifest_label, disclosure=output.disclosure,
                   watermark_id=output.watermark_id, models=output.compliance["models"])

        verified = media_verify(path=clip).as_dict()
        stamp = verified["manifest"]["time_stamp"] or {}
        self._step("output verified", ok=verified["manifest"]["state"] == "trusted",
                   manifest_state=verified["manifest"]["state"], consent=verified["consent"],
                   watermark_id=verified["manifest"]["watermark_id"])
        self._step("output time-stamped by a trusted authority", ok=stamp.get("state") == "trusted",
                   time=stamp.get("time"), authority=stamp.get("authority"))

        stripped = out / f"{output.id}-reencoded.mp4"
        encode_mp4(decode_mp4(clip), stripped, fps=job.params["fps"], crf=28)
        traced = media_verify(path=stripped).as_dict()
        self._step("copy with its manifest stripped traced by the watermark", file=stripped.name,
                   manifest_state=traced["manifest"]["state"], trace=traced["trace"], consent=traced["consent"],
                   ok=bool(traced["trace"]) and traced["trace"]["output_id"] == str(output.id))

        still = out / f"{output.id}-thumbnail.jpg"
        still.write_bytes(output_thumbnail_jpeg(output=output))
        checked = media_verify(path=still).as_dict()
        stamp = checked["manifest"]["time_stamp"] or {}
        self._step("still of the output (its thumbnail) verified with a trusted time-stamp", file=still.name,
                   manifest_state=checked["manifest"]["state"], time_stamp=stamp.get("state"),
                   ok=checked["manifest"]["state"] == "trusted" and stamp.get("state") == "trusted"
                   and checked["manifest"]["output_id"] == str(output.id))
        frame = out / f"{output.id}-frame.png"
        Image.fromarray(decode_mp4(clip)[0]).save(frame, format="PNG")
        traced = media_verify(path=frame).as_dict()
        self._step("one frame saved as a PNG traced by the watermark", file=frame.name, trace=traced["trace"],
                   ok=bool(traced["trace"]) and traced["trace"]["output_id"] == str(output.id))

        revocation = consent.license_revoke(license=license, reason="Talent withdrew consent.", acting_user=person)
        self._step("license revoked by talent", actor=person.username, published_outputs=revocation.published_outputs)
        model = LikenessModel.objects.get(pk=training.likeness_model_id)
        self._step("likeness model destroyed with the license that allowed it", status=model.status,
                   ok=model.status == LikenessModel.Status.DESTROYED)

        after = media_verify(path=clip).as_dict()
        self._step("output re-verified after revocation", manifest_state=after["manifest"]["state"],
                   consent=after["consent"], ok=after["consent"]["state"] == "revoked")
        after = media_verify(path=stripped).as_dict()
        self._step("stripped copy re-traced after revocation", consent=after["consent"],
                   ok=bool(after["trace"]) and after["consent"]["state"] == "revoked")
        self._refused("render after revocation refused", producer, license, PROMPT)
        story = demo_world_story(world)
        try:
            self._story(out, story=story, in_process=not options["worker"])
        finally:
            demo_world_story_withdraw(world, story)
            self._step("demo story withdrawn from viewers' list", story=str(story.id))

        checkpoint = audit_checkpoint_write()
        verification = audit_log_verify()
        self._step("audit log checkpoint signed and verified", ok=verification.ok, events=verification.events,
                   checkpoint=checkpoint.path.name if checkpoint else None,
                   checkpoints_checked=verification.checkpoints_checked, problems=verification.problems)
        report = {"ok": all(step["ok"] for step in self.steps), "license": str(license.id), "steps": self.steps}
        (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        self.stdout.write(f"report written to {out / 'report.json'}")
        if not report["ok"]:
            failed = [step["step"] for step in self.steps if not step["ok"]]
            raise CommandError(f"the demo did not go as expected ({'; '.join(failed)}); see report.json")

    def _story(self, out: Path, *, story: Story, in_process: bool) -> None:
        """A viewer, Wren, stars in the demo story: face check, consent, likeness model, a playthrough
        along one path with its choices, the signed cut, then she revokes and cannot play again."""
        viewer = demo_viewer()
        self._step("viewer signed up", actor=viewer.user.username)
        if not viewer_face_checked(talent_id=viewer.pk):
            check = demo_viewer_face_check(viewer)
            self._step("viewer's capture and photos checked: same person (offline face model)", actor=viewer.user.username,
                       challenge_code=check.challenge_code, distance=round(check.distance, 3))
        offer = StandingOffer(licensee=story.organization, story_id=str(story.pk), story_title=story.title)
        text = viewer_license_text(talent=viewer, offer=offer, scope=Scope.STORY)
        viewer_consent = viewer_license_sign(offer=offer, scope=Scope.STORY,
                                             context=consent.SignatureContext(
                                                 text_sha256_seen=text_sha256(text), disclosure_accepted=True,
                                                 authentication_method="demo", ip_address="127.0.0.1",
                                                 user_agent="manage.py demo"),
                                             acting_user=viewer.user)
        self._step("viewer consented to star in the story (signed by her alone)", actor=viewer.user.username,
                   license=str(viewer_consent.id), ends_on=viewer_consent.ends_on.isoformat())
        training = training_job_request(license_id=str(viewer_consent.id), acting_user=viewer.user,
                                        params={"steps": 30, "num_class_images": 1})
        training = self._run(training, training_job_execute, in_process=in_process)
        self._step("viewer's likeness model trained under her consent", training=str(training.id),
                   ok=training.status == TrainingJob.Status.SUCCEEDED)
        playthrough = play.playthrough_start(story=story, acting_user=viewer.user)
        scene = play.current_scene(playthrough)
        for choice in STORY_PATH:
            job = self._run(RenderJob.objects.get(pk=scene.render_job_id), render_job_execute, in_process=in_process)
            self._step(f"scene {scene.position + 1} '{scene.knot}' rendered, labelled and signed",
                       roles=scene.cast, ok=job.status == RenderJob.Status.SUCCEEDED,
                       prefetched=[b.knot for b in PlaythroughScene.objects.filter(parent=scene)])
            if choice is False:
                break
            scene = play.playthrough_choose(playthrough=playthrough, index=choice, acting_user=viewer.user)
        cut = play.playthrough_cut_make(playthrough=playthrough, acting_user=viewer.user)
        cut_file = out / "story-cut.mp4"
        with default_storage.open(cut.file.name, "rb") as source, cut_file.open("wb") as target:
            shutil.copyfileobj(source, target)
        checked = media_verify(path=cut_file).as_dict()
        ingredients = checked["manifest"].get("ingredients", [])
        self._step("signed cut assembled (no re-encode) and verified: each scene's manifest is an ingredient",
                   file=cut_file.name, choices=cut.choices, manifest_state=checked["manifest"]["state"],
                   ingredients=len(ingredients), ok=checked["manifest"]["state"] == "trusted"
                   and len(ingredients) == len(cut.scene_outputs))
        consent.license_revoke(license=viewer_consent, reason="The viewer withdrew her consent.",
                               acting_user=viewer.user)
        playthrough.refresh_from_db()
        self._step("viewer revoked her consent: her playthrough stopped", status=playthrough.status,
                   ok=playthrough.status == Playthrough.Status.STOPPED)
        try:
            play.playthrough_start(story=story, acting_user=viewer.user)
            self._step("next playthrough refused", ok=False)
        except ApplicationError as error:
            self._step("next playthrough refused", reason=error.code, message=error.message)

    @staticmethod
    def _signature(license: Any) -> consent.SignatureContext:
        # The demo acts for its personas from the command line; the portal and the API
        # record the real authentication of each signer.
        return consent.SignatureContext(text_sha256_seen=license.text_sha256, disclosure_accepted=True,
                                        authentication_method="demo", ip_address="127.0.0.1", user_agent="manage.py demo")

    def _step(self, name: str, ok: bool = True, **details: Any) -> None:
        self.steps.append({"step": name, "ok": ok, **details})
        self.stdout.write(f"{'ok ' if ok else 'FAIL'} {name}")

    def _refused(self, name: str, user: Any, license: Any, prompt: str) -> None:
        try:
            job = render_job_request(license_id=str(license.id), prompt=prompt, acting_user=user)
        except gate.ConsentRefused as refusal:
            self._step(name, actor=user.username, reason=str(refusal.decision.reason), message=refusal.decision.message)
        except ApplicationError as error:
            self._step(name, actor=user.username, reason=error.code, message=error.message)
        else:
            self._step(name, ok=False, actor=user.username, job=str(job.id))

    def _run(self, job: Job, execute: Callable[..., object], *, in_process: bool, timeout: float = 600) -> Job:
        """Run the job here (or leave it to a worker); if a worker claimed it first, wait for it."""
        if in_process:
            execute(job_id=str(job.id), worker="demo")
        deadline = time.monotonic() + timeout
        job.refresh_from_db()
        while job.status not in job.TERMINAL and time.monotonic() < deadline:
            time.sleep(0.5)
            job.refresh_from_db()
        return job
