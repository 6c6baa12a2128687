"""The cut of a playthrough: scene outputs joined without re-encoding, signed with the scenes as ingredients.

Three scenes go through the real path (label, watermark, H.264, signed manifest), then are
joined and signed as one cut: its frames are the scenes' own, so each label and watermark
survives, and its manifest carries each scene's manifest, consent and the viewer's choices.
"""

from __future__ import annotations

import hashlib
import json
from io import StringIO
from pathlib import Path

import av
import numpy as np
import pytest
from c2pa import Reader
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from consent import gate
from consent import services as consent
from generation.pipeline.video import decode_mp4, encode_mp4
from generation.tracing import media_verify
from provenance import services as provenance
from provenance import watermark
from provenance.c2pa_io import read_file
from provenance.cut import CutError, concatenate_mp4
from provenance.manifest import IPTC_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, ConsentReference
from provenance.pki import load_trust_anchor
from provenance.services import SignedOutput

FPS, FRAMES, HEIGHT, WIDTH = 8, 8, 128, 160
LICENSE_A, LICENSE_B = "0b8f3a52-7c1e-4f4e-9d55-2f0a9c1b7e01", "5d2c8e90-1a3b-4c6d-8e7f-9a0b1c2d3e4f"
SCENE_LICENSES = (LICENSE_A, LICENSE_B, LICENSE_A)
WATERMARK_IDS = (0x5CE0_0001, 0x5CE0_0002, 0x5CE0_0003)
CHOICES = ("Follow the lantern", "Open the blue door")
CUT_ID = "cut-7f3a"


def _reference(*, license_id: str) -> gate.ConsentReference:
    text_sha256 = hashlib.sha256(f"license text {license_id}".encode()).hexdigest()
    return gate.ConsentReference(license_id, text_sha256, f"https://bespoke.test/verify/consent/{license_id}")


def _manifest_reference(license_id: str) -> ConsentReference:
    reference = _reference(license_id=license_id)
    return ConsentReference(reference.license_id, reference.license_text_sha256, reference.status_url)


def _frames(seed: int, *, count: int = FRAMES, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Smooth moving colour fields: compressible like footage, so the encoder uses B-frames."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = [np.stack([128 + 100 * np.sin((x + 3 * t + 20 * seed) / 17),
                        128 + 100 * np.cos((y - 2 * t) / 23 + seed),
                        128 + 60 * np.sin((x + y) / 31 + t / 5 + seed)], axis=-1) for t in range(count)]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def _scene(directory: Path, number: int, *, license_id: str, watermark_id: int, **shape: int) -> SignedOutput:
    """One scene output made as a render makes it: label, watermark, H.264, signed manifest."""
    labelled, label = provenance.disclosure_apply(_frames(number, **shape))
    marked, binding = provenance.watermark_apply(labelled, watermark_id=watermark_id, fps=FPS)
    unsigned = directory / f"unsigned-{number}.mp4"
    encode_mp4(marked, unsigned, fps=FPS)
    return provenance.output_sign(src=unsigned, dst=directory / f"scene-{number}.mp4",
                                  output_id=f"scene-output-{number}", license_id=license_id,
                                  model_sha256=hashlib.sha256(b"base model").hexdigest(), likeness_model_sha256=None,
                                  label=label, watermark_binding=binding)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory, pki_dir: Path) -> list[SignedOutput]:
    directory = tmp_path_factory.mktemp("scenes")
    with override_settings(BESPOKE_PKI_DIR=pki_dir), pytest.MonkeyPatch.context() as patch:
        # Signing asks consent for the license's reference; these scenes need no database.
        patch.setattr(gate, "consent_reference", _reference)
        return [_scene(directory, number, license_id=license_id, watermark_id=watermark_id)
                for number, (license_id, watermark_id) in enumerate(zip(SCENE_LICENSES, WATERMARK_IDS), start=1)]


@pytest.fixture(scope="module")
def cut(scenes: list[SignedOutput], tmp_path_factory: pytest.TempPathFactory, pki_dir: Path) -> SignedOutput:
    directory = tmp_path_factory.mktemp("cut")
    joined = directory / "joined.mp4"
    concatenate_mp4([scene.path for scene in scenes], joined)
    with override_settings(BESPOKE_PKI_DIR=pki_dir):
        return provenance.cut_sign(src=joined, dst=directory / f"{CUT_ID}.mp4", cut_id=CUT_ID,
                                   scenes=[scene.path for scene in scenes], choices=CHOICES, title="Harbour Lights")


@pytest.fixture(scope="module")
def anchor(pki_dir: Path) -> str:
    return load_trust_anchor(pki_dir)


def _store(path: Path) -> dict:
    with path.open("rb") as stream, Reader("video/mp4", stream) as reader:
        return json.loads(reader.json())


def _frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_the_cut_is_trusted_and_its_ingredients_are_the_scenes(cut, scenes, anchor):
    report = read_file(cut.path, trust_anchor_pem=anchor)

    assert report.is_trusted and report.failures == ()
    assert report.cut_id == CUT_ID and report.title == "Harbour Lights"
    assert report.manifest_label == cut.manifest_label
    assert report.digital_source_type == IPTC_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert [i.title for i in report.ingredients] == [f"scene-output-{n}.mp4" for n in (1, 2, 3)]
    assert [i.relationship for i in report.ingredients] == ["componentOf"] * 3
    assert [i.manifest_label for i in report.ingredients] == [scene.manifest_label for scene in scenes]
    assert [i.state for i in report.ingredients] == ["trusted"] * 3 and all(i.validated for i in report.ingredients)
    assert [i.consents for i in report.ingredients] == [(_manifest_reference(lic),) for lic in SCENE_LICENSES]
    assert [i.output_id for i in report.ingredients] == [f"scene-output-{n}" for n in (1, 2, 3)]
    assert [i.watermark_id for i in report.ingredients] == list(WATERMARK_IDS)
    # The cut's own consent assertion: every license behind its scenes, each once.
    assert [ref.license_id for ref in report.consents] == [LICENSE_A, LICENSE_B]
    assert report.consent is None  # no single license speaks for a cut
    as_dict = json.loads(json.dumps(report.as_dict()))
    assert as_dict["ingredients"][1]["consents"][0]["license_id"] == LICENSE_B
    assert as_dict["ingredients"][1]["choice"] == CHOICES[0]
    assert cut.compliance["consent"] == [{"license_id": r.license_id, "license_text_sha256": r.license_text_sha256,
                                          "status_url": r.status_url} for r in report.consents]


def test_the_manifest_records_the_placed_scenes_and_the_choices_in_order(cut):
    store = _store(cut.path)
    active = store["manifests"][store["active_manifest"]]
    assertions = {a["label"]: a["data"] for a in active["assertions"]}

    actions = assertions["c2pa.actions.v2"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.placed", "c2pa.placed", "c2pa.placed"]
    assert actions[0]["digitalSourceType"] == IPTC_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    placed = actions[1:]
    assert [a["parameters"]["ingredients"][0]["url"].rsplit("/", 1)[1] for a in placed] == \
        [i["label"] for i in active["ingredients"]]
    assert [a["parameters"].get("com.bespoke.choice") for a in placed] == [None, *CHOICES]
    assert all(choice in a["description"] for choice, a in zip(CHOICES, placed[1:], strict=True))
    assert assertions["cawg.training-mining"]["entries"]["cawg.ai_generative_training"]["use"] == "notAllowed"
    assert assertions["com.bespoke.cut"] == {"cut_id": CUT_ID, "scenes": 3}
    # Nothing is re-applied: the cut declares no watermark or label of its own.
    assert "c2pa.soft-binding" not in assertions and "com.bespoke.output" not in assertions


def test_the_cut_has_every_frame_of_every_scene_unchanged(cut, scenes):
    scene_frames = [decode_mp4(scene.path) for scene in scenes]
    cut_frames = decode_mp4(cut.path)

    assert _frame_count(cut.path) == sum(_frame_count(scene.path) for scene in scenes) == 3 * FRAMES
    assert np.array_equal(cut_frames, np.concatenate(scene_frames))
    box = scenes[0].compliance["visible_label"]["box_px"]
    badge = (slice(None), slice(box["top"], box["top"] + box["height"]), slice(box["left"], box["left"] + box["width"]))
    assert np.array_equal(cut_frames[badge], np.concatenate([frames[badge] for frames in scene_frames]))


def test_each_scenes_watermark_is_read_from_its_frames_of_the_cut(cut):
    frames = decode_mp4(cut.path)
    for number, watermark_id in enumerate(WATERMARK_IDS):
        reading = watermark.watermark_read(frames[number * FRAMES:(number + 1) * FRAMES],
                                           key=settings.BESPOKE_WATERMARK_KEY)
        assert reading is not None and reading.watermark_id == watermark_id


def test_a_flipped_byte_makes_the_cut_invalid(cut, anchor, tmp_path):
    data = bytearray(cut.path.read_bytes())
    data[data.find(b"mdat") + 64] ^= 0xFF
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    report = read_file(tampered, trust_anchor_pem=anchor)
    assert report.state == "invalid" and any("mismatch" in code for code in report.failures)


def test_an_edited_scene_manifest_inside_the_cut_fails_that_ingredient(cut, anchor, tmp_path):
    data = bytearray(cut.path.read_bytes())
    # The active manifest is the store's last: the first copy of license B is in scene 2's own manifest.
    data[data.find(LICENSE_B.encode())] ^= 0x01
    edited = tmp_path / "edited.mp4"
    edited.write_bytes(bytes(data))
    report = read_file(edited, trust_anchor_pem=anchor)
    assert report.state == "invalid"
    assert [i.state for i in report.ingredients] == ["trusted", "invalid", "trusted"]
    assert "ingredient.manifest.mismatch" in report.ingredients[1].failures


def test_an_output_has_no_ingredients(scenes, anchor):
    report = read_file(scenes[0].path, trust_anchor_pem=anchor)
    assert report.ingredients == () and report.as_dict()["ingredients"] == []
    assert report.consents == (report.consent,) and report.cut_id is None


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path


def _text(path: Path) -> Path:
    path.write_text("not a video")
    return path


def _plain(path: Path, *, fps: int = FPS, **shape: int) -> Path:
    encode_mp4(_frames(9, count=4, **shape), path, fps=fps)
    return path


@pytest.mark.parametrize("odd_one, message", [
    (lambda d: _plain(d / "other-size.mp4", height=128, width=128), "width"),
    (lambda d: _plain(d / "other-rate.mp4", fps=12), "time base|frame rate"),
    (lambda d: _audio_only(d / "sound.mp4"), "no video stream"),
    (lambda d: _text(d / "notes.mp4"), "cannot be read"),
])
def test_scenes_that_cannot_be_joined_without_re_encoding_are_refused(scenes, tmp_path, odd_one, message):
    dst = tmp_path / "cut.mp4"
    with pytest.raises(CutError, match=message):
        concatenate_mp4([scenes[0].path, odd_one(tmp_path)], dst)
    assert not dst.exists() and not list(tmp_path.glob(".*partial"))


def test_no_scene_at_all_is_refused(tmp_path):
    with pytest.raises(CutError, match="at least one"):
        concatenate_mp4([], tmp_path / "cut.mp4")
    assert not (tmp_path / "cut.mp4").exists()


def test_cut_sign_takes_only_trusted_outputs_and_one_choice_between_two_scenes(scenes, tmp_path):
    joined = tmp_path / "joined.mp4"
    concatenate_mp4([scenes[0].path, scenes[1].path], joined)
    unsigned = _plain(tmp_path / "unsigned.mp4")
    with pytest.raises(CutError, match="not a trusted Bespoke output"):
        provenance.cut_sign(src=joined, dst=tmp_path / "cut.mp4", cut_id="c", scenes=[scenes[0].path, unsigned],
                            choices=["Go"], title="t")
    with pytest.raises(CutError, match="choices"):
        provenance.cut_sign(src=joined, dst=tmp_path / "cut.mp4", cut_id="c", scenes=[s.path for s in scenes[:2]],
                            choices=[], title="t")
    assert not (tmp_path / "cut.mp4").exists()


@pytest.mark.django_db
def test_verifying_a_cut_lists_its_scenes_with_their_consent_today(personas, active_license, client, empty_cache,
                                                                   tmp_path):
    license_id = str(active_license.id)
    parts = [_scene(tmp_path, number, license_id=license_id, watermark_id=0x5CE1_0000 + number, count=4)
             for number in (1, 2)]
    joined = tmp_path / "joined.mp4"
    concatenate_mp4([part.path for part in parts], joined)
    signed = provenance.cut_sign(src=joined, dst=tmp_path / "cut.mp4", cut_id="cut-db", scenes=[p.path for p in parts],
                                 choices=["Stay"], title="Night Market")

    verification = media_verify(path=signed.path).as_dict()
    assert verification["manifest"]["state"] == "trusted"
    assert [i["manifest_label"] for i in verification["ingredients"]] == [p.manifest_label for p in parts]
    assert [[s["state"] for s in i["consent_status"]] for i in verification["ingredients"]] == [["active"], ["active"]]

    consent.license_revoke(license=active_license, reason="Withdrawn.", acting_user=personas.alice)
    out = StringIO()
    call_command("verify_media", str(signed.path), stdout=out)  # returns (exit 0) only for a trusted file
    text = out.getvalue()
    assert "manifest trusted" in text
    assert "ingredient 1: scene-output-1.mp4 (componentOf)" in text
    assert 'ingredient 2: scene-output-2.mp4 (componentOf, after the choice "Stay")' in text
    assert text.count(f"consent: license {license_id} is revoked since") == 2
    page = client.post("/verify/", {"file": signed.path.open("rb")}).content.decode()
    assert 'id="ingredients"' in page and "scene-output-2.mp4" in page and "Stay" in page
    assert page.count(">revoked</strong>") == 2



def test_a_two_frame_scene_without_reordering_joins_a_scene_with_it(tmp_path):
    """A very short scene is encoded without B-frames; the longer one after it decodes a frame early."""
    short, full = _plain(tmp_path / "short.mp4"), tmp_path / "full.mp4"
    encode_mp4(_frames(9, count=2), short, fps=FPS)
    encode_mp4(_frames(3), full, fps=FPS)
    dst = tmp_path / "cut.mp4"
    concatenate_mp4([short, full, short], dst)
    assert _frame_count(dst) == 2 + FRAMES + 2
    joined = decode_mp4(dst)
    assert np.array_equal(joined[2:2 + FRAMES], decode_mp4(full))
