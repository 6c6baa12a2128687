"""The development time-stamping authority: RFC 3161 over HTTP, its replies made by OpenSSL.

Every manifest is time-stamped, in every mode. Production points ``BESPOKE_TSA_URL`` at a
real authority; development (``manage.py serve``) and the test run start this one, which
answers with the dev PKI's TSA certificate (``provenance.pki``). Each reply is made by
``openssl ts -reply`` with the PKI folder's OpenSSL configuration: Bespoke neither parses
nor writes ASN.1 here. Each reply gets its own random 159-bit serial number, so serials are
unique without any shared counter, and answering a query writes nothing that outlives it.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from provenance.pki import TSA_SERIAL_ENV, DevPki

logger = logging.getLogger(__name__)

QUERY_CONTENT_TYPE = "application/timestamp-query"
REPLY_CONTENT_TYPE = "application/timestamp-reply"
# A query is a digest and a few small fields (about 60 bytes for SHA-256).
MAX_QUERY_BYTES = 4096
_OPENSSL_SECONDS = 10
CLIENT_SECONDS = 10


class TimeStampQueryError(ValueError):
    """The bytes are not an RFC 3161 time-stamp query."""


class TimeStampAuthorityError(RuntimeError):
    """The dev authority cannot answer: no OpenSSL, a PKI without a TSA, OpenSSL failed."""


def openssl_executable() -> str:
    """The ``openssl`` command; TimeStampAuthorityError when it is not installed."""
    found = shutil.which("openssl")
    if found is None:
        raise TimeStampAuthorityError("the dev time-stamping authority needs the openssl command "
                                      "(Debian: apt-get install openssl)")
    return found


def time_stamp_reply(query: bytes, *, pki_dir: Path) -> bytes:
    """The DER TimeStampResp answering the DER TimeStampReq ``query``, signed by the dev PKI's TSA.

    Raises TimeStampQueryError when ``query`` is not a time-stamp query. A well-formed query
    that the authority does not grant (an unsupported digest) gets a reply saying so, as
    RFC 3161 asks.
    """
    if not query or len(query) > MAX_QUERY_BYTES:
        raise TimeStampQueryError(f"a time-stamp query is 1 to {MAX_QUERY_BYTES} bytes, not {len(query)}")
    pki = _dev_tsa_pki(pki_dir)
    openssl = openssl_executable()
    with tempfile.TemporaryDirectory(prefix="bespoke-tsa-") as work:
        query_path, reply_path, serial_path = (Path(work) / name for name in ("query.tsq", "reply.tsr", "serial"))
        query_path.write_bytes(query)
        # OpenSSL reads the serial from this file (and writes the next one back into it, unused).
        serial_path.write_text(f"{secrets.randbits(159) | 1 << 158:040X}\n", encoding="ascii")
        # `ts -reply` answers a malformed query with a "rejection" reply; it is refused here instead.
        if _openssl(openssl, "ts", "-query", "-in", query_path, "-text", cwd=pki.directory).returncode != 0:
            raise TimeStampQueryError("not an RFC 3161 time-stamp query")
        made = _openssl(openssl, "ts", "-reply", "-config", pki.tsa_config_path.name, "-queryfile", query_path,
                        "-out", reply_path, cwd=pki.directory, serial_file=serial_path)
        if made.returncode != 0 or not reply_path.is_file():
            raise TimeStampAuthorityError(f"openssl ts -reply failed: {made.stderr.strip()}")
        return reply_path.read_bytes()


def _dev_tsa_pki(pki_dir: Path) -> DevPki:
    pki = DevPki(Path(pki_dir))
    if not all(path.is_file() for path in (pki.tsa_config_path, pki.tsa_cert_path, pki.tsa_key_path)):
        raise TimeStampAuthorityError(f"{pki.directory} holds no dev time-stamping authority; run manage.py bootstrap")
    return pki


def _openssl(*argv: object, cwd: Path, serial_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if serial_file is not None:
        env[TSA_SERIAL_ENV] = str(serial_file)
    try:
        return subprocess.run([str(arg) for arg in argv], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=_OPENSSL_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TimeStampAuthorityError(f"openssl did not run: {exc}") from exc


class DevTsaServer(ThreadingHTTPServer):
    """An HTTP server answering RFC 3161 queries POSTed to ``/`` with the TSA of ``pki_dir``.

    ``pki_dir`` is read for each query: pointing it at another dev PKI (as each test does at its
    own) makes the next replies that PKI's.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], pki_dir: Path) -> None:
        self.pki_dir = Path(pki_dir)
        super().__init__(address, _TimeStampHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"


class _TimeStampHandler(BaseHTTPRequestHandler):
    server: DevTsaServer
    server_version = "BespokeDevTSA"
    timeout = CLIENT_SECONDS  # a client that stops sending is dropped, not waited for

    def do_POST(self) -> None:
        if self.path != "/":
            self._refuse(HTTPStatus.NOT_FOUND, "time-stamp queries are POSTed to /")
            return
        if self.headers.get_content_type() != QUERY_CONTENT_TYPE:
            self._refuse(HTTPStatus.BAD_REQUEST, f"a time-stamp query is sent as {QUERY_CONTENT_TYPE}")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_QUERY_BYTES:
            self._refuse(HTTPStatus.BAD_REQUEST, f"a time-stamp query is 1 to {MAX_QUERY_BYTES} bytes "
                                                 "with its Content-Length")
            return
        try:
            query = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            return
        try:
            reply = time_stamp_reply(query, pki_dir=self.server.pki_dir)
        except TimeStampQueryError as exc:
            self._refuse(HTTPStatus.BAD_REQUEST, str(exc))
            return
        except TimeStampAuthorityError:
            logger.exception("the dev time-stamping authority could not answer")
            self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR, "the time-stamping authority could not answer")
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", REPLY_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def do_GET(self) -> None:
        self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "POST an RFC 3161 time-stamp query")

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        body = (message + "\n").encode("utf-8")
        self.send_response(status)
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "POST")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("dev TSA %s: " + format, self.address_string(), *args)


@contextmanager
def running_dev_tsa(pki_dir: Path, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[DevTsaServer]:
    """Serve the dev PKI's TSA on IPv4 ``host``:``port`` (a free port by default) in a thread while the block runs.

    Its URL (``.url``) is what ``BESPOKE_TSA_URL`` names. Raises TimeStampAuthorityError at once
    when OpenSSL is missing or the PKI holds no TSA.
    """
    pki = _dev_tsa_pki(pki_dir)
    openssl_executable()
    server = DevTsaServer((host, port), pki.directory)
    thread = threading.Thread(target=server.serve_forever, name="bespoke-dev-tsa", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
