"""Who uses the portal under `python bench/run.py load`: locust users, one class per persona.

bench/load.py writes the plan (accounts, TOTP secrets, license ids) to the file named by
BESPOKE_LOAD_PLAN. Signed-in personas use the API and the portal with a session, as the
portal's own pages do: allauth's sign-in form, then a code from the authenticator app where
one is enrolled, then the session cookie, with the CSRF token in X-CSRFToken on unsafe
methods. A session signed in with a code also vouches for the talent's approvals for five
minutes (ACCOUNT_REAUTHENTICATION_TIMEOUT), where a token client would need a fresh code,
good once, for each one.

Each account signs in once, before the users start, and its simulated users share the
session, as tabs of one browser: allauth allows 30 sign-ins a minute from one address, and
each authenticator code once.

What the users do, in proportion to the class weights (of 50 users: 25 producers, 5 talent,
10 legal staff, 10 anonymous), each pausing 1-3 s between actions, a person reading a page
before the next click:

- a producer (Bob) first glances at every page, 0.3-1 s apart (his licenses, his renders, a
  render request under each license, a license, a render's progress: so that a short run
  measures each one), then lists licenses (3 in 13 actions) or renders (3), opens a license
  (2), follows one of his last five renders (3), or requests a render (2: about one action
  in seven; one in four of them under the license that asks the talent's approval);
- the talent (Alice) opens her renders and approves the use waiting longest on the page (4 in
  5 actions), or lists her licenses (1);
- legal staff (Dana, Erin) read the audit log's first page (3 in 6), a later page (1), the
  events of one license (1), or list the licenses (1);
- anyone holding a file checks the consent status its manifest links to (5 in 6), or opens
  the verify page (1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import random
import re
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gevent.lock import Semaphore
from locust import HttpUser, between, events, task
from locust.clients import HttpSession
from locust.env import Environment

PLAN: dict[str, Any] = json.loads(Path(os.environ["BESPOKE_LOAD_PLAN"]).read_text())
RENDER_PARAMS = {"num_frames": 4, "width": 128, "height": 128, "steps": 3, "fps": 4}
PROMPTS = ("A walk along the harbour at dusk", "Close-up at the night market stall, lanterns behind",
           "Crossing the square in the rain", "Reading a letter by the window, morning light")
TOUR_PAUSE_SECONDS = (0.3, 1.0)  # between the pages of a user's first look around
SIGN_IN_MAX_AGE_SECONDS = 240  # below the five minutes a session's code vouches for approvals
_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def totp_code(secret: str, at: float | None = None, period: int = 30, digits: int = 6) -> str:
    """RFC 6238 (HMAC-SHA1), as an authenticator app computes it from the enrolled secret."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int((time.time() if at is None else at) // period)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


class SignIns:
    """One session per account, signed in by whichever of its users needs it first."""

    def __init__(self) -> None:
        self.cookies: dict[str, dict[str, str]] = {}
        self.signed_in_at: dict[str, float] = {}
        self.codes_used: dict[str, str] = {}
        self.locks: dict[str, Semaphore] = {}

    def session_for(self, user: HttpUser, account: str, *, max_age: float | None = None) -> None:
        self.sign_in(user.client, account, max_age=max_age)
        user.client.cookies.clear()
        user.client.cookies.update(self.cookies[account])

    def sign_in(self, client: HttpSession, account: str, *, max_age: float | None = None) -> None:
        """Sign the account in unless it has a session (younger than max_age, when given)."""
        with self.locks.setdefault(account, Semaphore()):
            age = time.monotonic() - self.signed_in_at.get(account, float("-inf"))
            if account not in self.cookies or (max_age is not None and age > max_age):
                self.cookies[account] = self._sign_in(client, account)
                self.signed_in_at[account] = time.monotonic()

    def _sign_in(self, client: HttpSession, account: str) -> dict[str, str]:
        credentials = PLAN["accounts"][account]
        client.cookies.clear()
        page = client.get("/accounts/login/", name="sign-in /accounts/login/")
        answer = client.post("/accounts/login/", name="sign-in /accounts/login/", data={
            "login": account, "password": credentials["password"], "csrfmiddlewaretoken": _csrf_field(page.text)})
        if credentials["totp_secret"] and "/2fa/authenticate" in answer.url:
            answer = client.post(answer.url, name="sign-in /accounts/2fa/authenticate/", data={
                "code": self._fresh_code(account, credentials["totp_secret"]),
                "csrfmiddlewaretoken": _csrf_field(answer.text)})
        if "sessionid" not in client.cookies or "/accounts/" in answer.url:
            raise RuntimeError(f"{account} could not sign in (ended at {answer.url}, status {answer.status_code})")
        return client.cookies.get_dict()

    def _fresh_code(self, account: str, secret: str) -> str:
        """A code not used before: a code is good once, so wait for the next period if need be."""
        code = totp_code(secret)
        while code == self.codes_used.get(account):
            time.sleep(1)
            code = totp_code(secret)
        self.codes_used[account] = code
        return code


SIGN_INS = SignIns()


REQUEST_LOG = os.environ.get("BESPOKE_LOAD_REQUEST_LOG")


@events.request.add_listener
def log_request(request_type: str, name: str, response_time: float, exception: BaseException | None,
                **_: Any) -> None:
    """Each request's end time, name and time taken, for bench/load.py's phases (ramp-up, steady)."""
    if REQUEST_LOG:
        with open(REQUEST_LOG, "a") as log:
            log.write(f"{time.time():.3f}\t{request_type} {name}\t{response_time:.1f}\t{int(exception is not None)}\n")


@events.test_start.add_listener
def sign_in_before_the_users_arrive(environment: Environment, **_: Any) -> None:
    """Every account signs in before the first user starts, as people come back to a portal
    whose session (two weeks) they already have: a sign-in hashes the password, a fraction of a
    second of the server's CPU, which would otherwise land on the first users' requests."""
    client = HttpSession(base_url=environment.host, request_event=environment.events.request, user=None)
    for account in PLAN["accounts"]:
        SIGN_INS.sign_in(client, account)
APPROVALS_TAKEN: set[str] = set()  # job ids a talent user is deciding, so that two never decide one


def tour(user: HttpUser, *actions: Callable[[], None]) -> None:
    """Each action once, a short pause before each, as a person glancing at each page."""
    for action in actions:
        time.sleep(random.uniform(*TOUR_PAUSE_SECONDS))
        action()


def _csrf_field(html: str) -> str:
    found = _CSRF_FIELD.search(html)
    if found is None:
        raise RuntimeError("the sign-in page has no CSRF token")
    return found.group(1)


class SignedInUser(HttpUser):
    abstract = True
    wait_time = between(1, 3)
    accounts: tuple[str, ...] = ()
    _numbering = itertools.count()

    def on_start(self) -> None:
        self.account = self.accounts[next(self._numbering) % len(self.accounts)]
        SIGN_INS.session_for(self, self.account)

    def tour(self, *actions: Callable[[], None]) -> None:
        tour(self, *actions)

    def unsafe_headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.client.cookies.get("csrftoken", "")}

    def get_json(self, path: str, name: str) -> Any:
        with self.client.get(path, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return None
            return response.json()


class Producer(SignedInUser):
    """Bob at Northlight Studios: lists licenses and renders, watches his renders, asks for new ones
    (one in four under the license that waits for the talent's approval)."""

    weight = 5
    accounts = ("bob",)

    def on_start(self) -> None:
        super().on_start()
        self.my_renders: list[str] = []
        # A first look at every page, at a person's pace, so that a short run measures each one.
        self.tour(self.licenses, self.renders, lambda: self.request_render("plain"),
                  lambda: self.request_render("approval"), self.license, self.render_progress)

    @task(3)
    def licenses(self) -> None:
        self.get_json("/api/v1/licenses/", "/api/v1/licenses/")

    @task(2)
    def license(self) -> None:
        license_id = random.choice(list(PLAN["licenses"].values()))
        self.get_json(f"/api/v1/licenses/{license_id}/", "/api/v1/licenses/{id}/")

    @task(3)
    def renders(self) -> None:
        self.get_json("/api/v1/renders/", "/api/v1/renders/")

    @task(3)
    def render_progress(self) -> None:
        if self.my_renders:
            self.get_json(f"/api/v1/renders/{random.choice(self.my_renders[-5:])}/", "/api/v1/renders/{id}/")

    @task(2)
    def request_render(self, kind: str | None = None) -> None:
        license_id = PLAN["licenses"][kind or ("approval" if random.random() < 0.25 else "plain")]
        with self.client.post("/api/v1/renders/", name="/api/v1/renders/", headers=self.unsafe_headers(),
                              json={"license": license_id, "prompt": random.choice(PROMPTS), "params": RENDER_PARAMS},
                              catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            self.my_renders.append(response.json()["id"])


class Talent(SignedInUser):
    """Alice: reads her licenses and the renders under them, and approves each use waiting for her."""

    weight = 1
    accounts = ("alice",)

    def on_start(self) -> None:
        super().on_start()
        self.tour(self.licenses, self.review_uses)

    @task(4)
    def review_uses(self) -> None:
        SIGN_INS.session_for(self, self.account, max_age=SIGN_IN_MAX_AGE_SECONDS)
        page = self.get_json("/api/v1/renders/", "/api/v1/renders/")
        waiting = [job["id"] for job in (page or {}).get("results", [])
                   if job["status"] == "awaiting_approval" and job["id"] not in APPROVALS_TAKEN]
        if not waiting:
            return
        job_id = waiting[-1]  # the one waiting longest on the page
        APPROVALS_TAKEN.add(job_id)
        with self.client.post(f"/api/v1/renders/{job_id}/approve/", name="/api/v1/renders/{id}/approve/",
                              headers=self.unsafe_headers(), json={"reason": ""}, catch_response=True) as response:
            if response.status_code != 200 or response.json()["status"] != "queued":
                response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(1)
    def licenses(self) -> None:
        self.get_json("/api/v1/licenses/", "/api/v1/licenses/")


class Legal(SignedInUser):
    """Dana and Erin, legal staff at Northlight: read the audit log page, and the licenses."""

    weight = 2
    accounts = ("dana", "erin")

    def on_start(self) -> None:
        super().on_start()
        self.tour(self.audit_log, self.audit_log_later_page, self.audit_log_of_a_license, self.licenses)

    @task(3)
    def audit_log(self) -> None:
        self._page("/audit/", "/audit/")

    @task(1)
    def audit_log_later_page(self) -> None:
        self._page(f"/audit/?page={random.randint(2, 4)}", "/audit/?page=N")

    @task(1)
    def audit_log_of_a_license(self) -> None:
        self._page(f"/audit/?subject=license:{PLAN['licenses']['approval']}", "/audit/?subject=license:{id}")

    @task(1)
    def licenses(self) -> None:
        self.get_json("/api/v1/licenses/", "/api/v1/licenses/")

    def _page(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, catch_response=True) as response:
            if response.status_code != 200 or "/accounts/" in response.url:
                response.failure(f"{response.status_code} at {response.url}")


class Anonymous(HttpUser):
    """Anyone checking the consent behind a file: the status URL a manifest carries."""

    weight = 2
    wait_time = between(1, 3)

    def on_start(self) -> None:
        tour(self, self.consent_status, self.verify_page)

    @task(5)
    def consent_status(self) -> None:
        license_id = random.choice(PLAN["status_license_ids"])
        with self.client.get(f"/verify/consent/{license_id}", name="/verify/consent/{id}",
                             catch_response=True) as response:
            if response.status_code != 200 or "state" not in response.json():
                response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(1)
    def verify_page(self) -> None:
        self.client.get("/verify/", name="/verify/")
