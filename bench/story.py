"""How long a viewer waits in an interactive story, with and without scenes rendered ahead.

Vera (bootstrap's viewer, given scikit-image's astronaut face here, a face check and her
consent to star in Harbour Lights) plays the demo story along a fixed path, twice, while
ONE real `celery worker` subprocess (solo pool, on the queue the render tasks route to,
the embedded filesystem broker, the same data folder) trains her likeness model and then
renders the scenes, after one warm-up scene (a fresh worker's first render loads more than
the next ones). The viewer, in this process, watches each scene to its end (sleeps its
length, times BESPOKE_BENCH_STORY_WATCH_SCALE, once it is ready), then takes the next choice:

- with prefetch, as the service plays: the scenes behind each choice are requested while
  the viewer watches, the chosen one kept, the others cancelled;
- without prefetch (``prefetch=False`` on playthrough_start / playthrough_choose): each
  scene is requested only when its choice is taken.

The path takes the second branch at two of its three choices, so there the single worker
must render both branches while the viewer watches. A wait is timed from the click (before
``playthrough_choose`` is called) to the chosen scene's ``scene_progress`` saying ready. A
scene's render time is the mean time from its claim to its publication (RenderJob.started_at
to finished_at) over every scene rendered. The cut (``playthrough_cut_make``: copy, join,
sign, store) is compared with a bare PyAV remux of the same scene files written here. The goal
(at most 1.2x) is judged on the assembly itself, the cut's join (provenance.cut.concatenate_mp4)
against that remux; the whole of ``playthrough_cut_make``, which also copies the scenes out of
storage and signs the cut with every scene's manifest as an ingredient, is reported beside it.
The machine's load average is printed with the figures: other work on it slows the worker.

Sizes: BESPOKE_BENCH_STORY_WIDTH / HEIGHT / STEPS / FPS (the scenes' render parameters)
and BESPOKE_BENCH_STORY_WATCH_SCALE (1 watches each scene for its full length).
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

#: harbour_dawn -> pier_talk (wave) -> cliff_path -> window_climb (climb in) -> lamp_room -> ending_dark (leave it
#: dark): six scenes, three choice points; None goes on where the story offers no choice.
PATH: tuple[int | None, ...] = (0, None, 1, None, 1)
KNOTS = ("harbour_dawn", "pier_talk", "cliff_path", "window_climb", "lamp_room", "ending_dark")
GOAL_WAIT_FRACTION = 0.10
GOAL_CUT_RATIO = 1.2
POLL_SECONDS = 0.05  # how often the viewer's player asks whether the scene is ready
WORKER_READY_SECONDS = 180
SCENE_TIMEOUT_SECONDS = 300
BARE_RUNS = 3


def _env_number(name: str, default: float, kind: type = int) -> Any:
    value = os.environ.get(name, "").strip()
    return kind(value) if value else kind(default)


def scene_params() -> dict[str, int]:
    """The scenes' render parameters: on an idle 2-core machine a scene of the path renders in about
    1.2 s at these (0.8 s at 2 steps); 4 fps keeps the 1-second scene at 4 frames."""
    return {"width": _env_number("BESPOKE_BENCH_STORY_WIDTH", 128),
            "height": _env_number("BESPOKE_BENCH_STORY_HEIGHT", 128),
            "steps": _env_number("BESPOKE_BENCH_STORY_STEPS", 4),
            "fps": _env_number("BESPOKE_BENCH_STORY_FPS", 4)}


# --- Vera, ready to star -------------------------------------------------------------------------------

def _viewer_ready() -> tuple[Any, Any]:
    """Bootstrap's viewer with photos, a passed face check, her consent to Harbour Lights and her likeness
    model trained under it by the worker (each made once: a second run on the same data folder finds them)."""
    from django.contrib.auth import get_user_model

    from bespoke.demo_cast import demo_viewer_face_check
    from consent.models import LikenessModel, Talent
    from consent.services import SignatureContext
    from consent.terms import text_sha256
    from consent.viewers import StandingOffer, viewer_face_checked, viewer_license_sign, viewer_license_text
    from generation.models import TrainingJob
    from generation.services.training import training_job_request
    from stories import play
    from stories.models import Story

    user = get_user_model().objects.get(username="vera")
    talent = Talent.objects.get(user=user, kind=Talent.Kind.VIEWER)
    story = Story.objects.get(title="Harbour Lights", status=Story.Status.PUBLISHED)
    if not viewer_face_checked(talent_id=talent.id):
        demo_viewer_face_check(talent)
    consent = play.viewer_consent_for(story=story, user=user)
    if consent is None:
        offer = StandingOffer(licensee=story.organization, story_id=str(story.pk), story_title=story.title)
        text = viewer_license_text(talent=talent, offer=offer, scope="story")
        context = SignatureContext(text_sha256_seen=text_sha256(text), disclosure_accepted=True,
                                   authentication_method="password", ip_address="192.0.2.7", user_agent="benchmark")
        consent = viewer_license_sign(offer=offer, scope="story", context=context,
                                      acting_user=user)
    if not LikenessModel.objects.filter(license=consent, status=LikenessModel.Status.ACTIVE).exists():
        job = training_job_request(license_id=str(consent.id), acting_user=user,
                                   params={"steps": 4, "num_class_images": 1, "prior_preservation": False})
        deadline = time.perf_counter() + SCENE_TIMEOUT_SECONDS
        while job.status not in TrainingJob.TERMINAL:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the likeness model is not trained after {SCENE_TIMEOUT_SECONDS} s")
            time.sleep(0.2)
            job.refresh_from_db()
        if job.status != TrainingJob.Status.SUCCEEDED:
            raise RuntimeError(f"training failed: {job.outcome_message}")
    return user, story


# --- One worker ----------------------------------------------------------------------------------------

def _render_queues() -> list[str]:
    from django.conf import settings

    from generation import queue

    return sorted({settings.CELERY_TASK_ROUTES[queue.RENDER_JOB_RUN]["queue"]})


class _Worker:
    """One `celery worker` subprocess, solo pool, on the render queue of this data folder's broker."""

    def __init__(self, log: Path) -> None:
        from bespoke.celery import app

        queues = _render_queues()
        with app.connection_for_write() as broker:  # what an earlier run on the same data folder left
            for name in queues:
                broker.default_channel.queue_purge(name)
            self.polling_interval = getattr(broker.transport, "polling_interval", None)
        self.log = log
        self._handle = log.open("w")
        self.started = time.time()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bespoke", "worker", "--queues", ",".join(queues),
             "--concurrency", "1", "--pool", "solo", "--hostname", "bench-story@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"],
            cwd=Path(__file__).resolve().parent.parent, env=dict(os.environ), stdout=self._handle,
            stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> float:
        """Seconds from the worker's start until it said it was ready (by its log line's time)."""
        while " ready." not in self.output():
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited:\n{self.output()[-3000:]}")
            if time.time() - self.started > WORKER_READY_SECONDS:
                raise RuntimeError(f"the worker is not ready:\n{self.output()[-3000:]}")
            time.sleep(0.1)
        line = next(line for line in self.output().splitlines() if line.endswith(" ready."))
        try:
            return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp() - self.started
        except ValueError:  # a log format without the time: when it was seen ready
            return time.time() - self.started

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._handle.close()


# --- The viewer --------------------------------------------------------------------------------------

def _until_ready(scene: Any, clicked: float) -> float:
    """Seconds from ``clicked`` until the scene is ready to play."""
    from stories import play

    while True:
        progress = play.scene_progress(scene)
        if progress.state == "ready":
            return time.perf_counter() - clicked
        if progress.state in ("gone", "failed", "awaiting_approval"):
            raise RuntimeError(f"scene {scene.knot} is {progress.state}: {progress.message}")
        if time.perf_counter() - clicked > SCENE_TIMEOUT_SECONDS:
            raise RuntimeError(f"scene {scene.knot} not ready after {SCENE_TIMEOUT_SECONDS} s ({progress.state})")
        time.sleep(POLL_SECONDS)


def _scene_seconds(scene: Any) -> float:
    from generation.models import RenderJob

    params = RenderJob.objects.get(pk=scene.render_job_id).params
    return params["num_frames"] / params["fps"]


def _settle(playthrough: Any) -> None:
    """Wait until the worker is done with every render of the playthrough (discarded ones stop at a step)."""
    from generation.models import RenderJob

    jobs = RenderJob.objects.filter(pk__in=playthrough.scenes.exclude(render_job_id=None).values("render_job_id"))
    deadline = time.perf_counter() + SCENE_TIMEOUT_SECONDS
    while jobs.exclude(status__in=RenderJob.TERMINAL).exists():
        if time.perf_counter() > deadline:
            raise RuntimeError("renders of the playthrough still running")
        time.sleep(0.05)


def _warm_up(user: Any, story: Any) -> float:
    """One scene rendered before the measured runs: the worker's first render also loads the likeness
    adapters, the output screen's detector and the signer. Its playthrough is left where it is."""
    from stories import play

    clicked = time.perf_counter()
    playthrough = play.playthrough_start(story=story, acting_user=user, prefetch=False)
    return _until_ready(play.current_scene(playthrough), clicked)


def _play(user: Any, story: Any, *, prefetch: bool, watch_scale: float) -> dict[str, Any]:
    """Play the path as a viewer does; the waits, the scenes rendered and wasted, and the cut's time."""
    from generation.models import RenderJob
    from stories import play
    from stories.models import PlaythroughScene

    clicked = time.perf_counter()
    playthrough = play.playthrough_start(story=story, acting_user=user, prefetch=prefetch)
    calls = [time.perf_counter() - clicked]  # the service's own share of each wait
    scene = play.current_scene(playthrough)
    first_frame = _until_ready(scene, clicked)
    waits = []
    for index in PATH:
        time.sleep(_scene_seconds(scene) * watch_scale)  # watch it to its end
        clicked = time.perf_counter()
        scene = play.playthrough_choose(playthrough=playthrough, index=index, acting_user=user, prefetch=prefetch)
        calls.append(time.perf_counter() - clicked)
        waits.append(_until_ready(scene, clicked))
    playthrough.refresh_from_db()
    knots = [s.knot for s in playthrough.scenes.filter(status=PlaythroughScene.Status.CHOSEN).order_by("position")]
    if tuple(knots) != KNOTS or playthrough.status != "ended":
        raise RuntimeError(f"the path went {knots} ({playthrough.status})")
    _settle(playthrough)
    scenes = {s.render_job_id: s for s in playthrough.scenes.exclude(render_job_id=None)}
    jobs = list(RenderJob.objects.filter(pk__in=scenes))
    started = [job for job in jobs if job.started_at is not None]
    wasted = [job for job in started if scenes[job.pk].status != PlaythroughScene.Status.CHOSEN]
    published = [(job.finished_at - job.started_at).total_seconds() for job in jobs
                 if job.status == RenderJob.Status.SUCCEEDED]

    began = time.perf_counter()
    cut = play.playthrough_cut_make(playthrough=playthrough, acting_user=user)
    cut_seconds = time.perf_counter() - began
    return {"first_frame": first_frame, "waits": waits, "start_call": calls[0], "choose_calls": calls[1:],
            "render_seconds": published, "requested": len(jobs), "rendered": len(started), "wasted": len(wasted),
            "wasted_render_seconds": sum((job.finished_at - job.started_at).total_seconds() for job in wasted),
            "cut_seconds": cut_seconds, "cut_outputs": cut.scene_outputs}


# --- The bare cut ------------------------------------------------------------------------------------

def bare_concatenate(sources: list[Path], dst: Path) -> None:
    """The scene files' video packets one after another in one MP4: a remux, no re-encode."""
    import av

    with av.open(str(dst), "w", format="mp4") as out:
        stream = None
        offset = 0
        for source in sources:
            with av.open(str(source)) as container:
                video = container.streams.video[0]
                if stream is None:
                    stream = out.add_stream_from_template(video)
                last = 0
                for packet in container.demux(video):
                    if packet.dts is None:
                        continue  # the demuxer's flush packet
                    last = max(last, packet.pts + (packet.duration or 0), packet.dts + (packet.duration or 0))
                    packet.pts += offset
                    packet.dts += offset
                    packet.stream = stream
                    out.mux(packet)
                offset += last


def _remux_seconds(output_ids: list[str]) -> tuple[float, float]:
    """The fastest of BARE_RUNS joins of the cut's scene files (after a warm-up): by the bare remux
    above, and by the cut's own join (provenance.cut.concatenate_mp4) alone, without the signing."""
    from django.core.files.storage import default_storage

    from generation.models import RenderOutput
    from provenance.cut import concatenate_mp4

    outputs = {str(o.pk): o for o in RenderOutput.objects.filter(pk__in=output_ids)}
    sources = [Path(default_storage.path(outputs[i].file.name)) for i in output_ids]
    folder = Path(tempfile.mkdtemp(prefix="bespoke-bench-cut-"))
    try:
        bare_concatenate(sources, folder / "warm-up.mp4")
        concatenate_mp4(sources, folder / "warm-up-join.mp4")
        bare, join = [], []
        for run in range(BARE_RUNS):
            began = time.perf_counter()
            bare_concatenate(sources, folder / f"bare-{run}.mp4")
            bare.append(time.perf_counter() - began)
            began = time.perf_counter()
            concatenate_mp4(sources, folder / f"join-{run}.mp4")
            join.append(time.perf_counter() - began)
        return min(bare), min(join)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _round(value: float) -> float:
    return round(value, 3)


def run() -> dict[str, Any]:
    from django.conf import settings

    params = scene_params()
    settings.BESPOKE_STORY_SCENE_PARAMS = params  # the scenes are requested from this process
    watch_scale = _env_number("BESPOKE_BENCH_STORY_WATCH_SCALE", 1.0, float)
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    worker = _Worker(Path(settings.DATA_DIR) / "bench-story-worker.log")  # starts while Vera gets ready
    try:
        user, story = _viewer_ready()  # her likeness model is trained by the worker
        setup = time.perf_counter() - began
        worker_ready = worker.wait_ready()
        warm_up = _warm_up(user, story)
        with_prefetch = _play(user, story, prefetch=True, watch_scale=watch_scale)
        without = _play(user, story, prefetch=False, watch_scale=watch_scale)
    finally:
        worker.stop()
    cut_seconds = min(with_prefetch["cut_seconds"], without["cut_seconds"])
    remuxes = [_remux_seconds(with_prefetch["cut_outputs"]), _remux_seconds(without["cut_outputs"])]
    bare_seconds, join_seconds = min(bare for bare, _ in remuxes), min(join for _, join in remuxes)
    render = statistics.mean(with_prefetch["render_seconds"] + without["render_seconds"])
    wait_with = statistics.mean(with_prefetch["waits"])
    wait_without = statistics.mean(without["waits"])
    return {
        "scene_params": f"{params['width']}x{params['height']}, {params['steps']} steps, {params['fps']} fps",
        "watch_scale": watch_scale,
        "path": " > ".join(KNOTS),
        "choices_taken": len(PATH),
        "worker": f"1 celery worker, solo pool, queues {','.join(_render_queues())}, broker polled every "
                  f"{worker.polling_interval} s when idle",
        "cpus": os.cpu_count(),
        "load_average_1m": f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after",
        "setup_s": _round(setup),
        "worker_ready_s": _round(worker_ready),
        "warm_up_scene_s": _round(warm_up),
        "render_s_mean": _round(render),
        "scenes_timed": len(with_prefetch["render_seconds"]) + len(without["render_seconds"]),
        "first_frame_s_prefetch": _round(with_prefetch["first_frame"]),
        "first_frame_s_no_prefetch": _round(without["first_frame"]),
        "start_call_s_prefetch": _round(with_prefetch["start_call"]),
        "start_call_s_no_prefetch": _round(without["start_call"]),
        "choose_call_s_mean_prefetch": _round(statistics.mean(with_prefetch["choose_calls"])),
        "choose_call_s_mean_no_prefetch": _round(statistics.mean(without["choose_calls"])),
        "wait_s_prefetch": [_round(w) for w in with_prefetch["waits"]],
        "wait_s_no_prefetch": [_round(w) for w in without["waits"]],
        "wait_s_mean_prefetch": _round(wait_with),
        "wait_s_mean_no_prefetch": _round(wait_without),
        "wait_ratio_prefetch_to_no_prefetch": _round(wait_with / wait_without),
        "wait_fraction_of_render_prefetch": _round(wait_with / render),
        "scenes_requested_prefetch": with_prefetch["requested"],
        "scenes_rendered_prefetch": with_prefetch["rendered"],
        "scenes_wasted_prefetch": with_prefetch["wasted"],
        "wasted_render_s_prefetch": _round(with_prefetch["wasted_render_seconds"]),
        "scenes_rendered_no_prefetch": without["rendered"],
        "scenes_wasted_no_prefetch": without["wasted"],
        "cut_s": round(cut_seconds, 4),
        "cut_bare_remux_s": round(bare_seconds, 4),
        "cut_join_only_s": round(join_seconds, 4),
        "cut_join_ratio": _round(join_seconds / bare_seconds),
        "cut_total_ratio": _round(cut_seconds / bare_seconds),
        "goal_wait_fraction": GOAL_WAIT_FRACTION,
        "goal_cut_ratio": GOAL_CUT_RATIO,
        "goal_wait_met": wait_with / render <= GOAL_WAIT_FRACTION,
        "goal_cut_met": join_seconds / bare_seconds <= GOAL_CUT_RATIO,
    }
