"""The web side (``--http URL``): which web APIs of the node answer without authentication?

The URL must name the assessed host (the same address); nothing else is contacted. Every
request connects to the address that check accepted (never to what the name resolves to
later: no DNS rebinding), while the Host header and the TLS server name keep the URL's host.
Proxies named in the environment (``http_proxy``, ``https_proxy``) are ignored, so that no
request and no credential goes through another host. Redirects are not followed. A handful of
GET requests, paced by ``--rate``, each with the timeout:

* ``/system``: Orthanc's REST API (its answer names the Orthanc version, which the identity
  check uses);
* ``/dicom-web/studies?limit=1``: DICOMweb QIDO-RS (Orthanc's plugin path); ``studies?limit=1``
  under the URL itself when it names a DICOMweb root;
* ``/wado?requestType=WADO&...``: WADO-URI, for UIDs that do not exist;
* ``/dcm4chee-arc/aets``: dcm4chee-arc's REST API.

An answer other than 401/403 (and 404, which says nothing) means no authentication stood in
the way. Bodies are read only to recognise the API (a JSON field name, a list length); a
DICOMweb answer is counted, never kept. A WADO-URI answer (200, or 400 for the made-up UIDs)
counts only from a server identified as a DICOM web server (Orthanc's ``/system``, a DICOMweb
JSON list, dcm4chee-arc's list of AEs): any web server answers 400 to a request it does not
understand.

With ``--http-user`` (password from ``PACSGUARD_HTTP_PASSWORD``), Orthanc's REST API is also
used to read its version and to delete pacsguard's own test studies afterwards
(:meth:`OrthancRest.delete_study`), and only those labelled as pacsguard's test patient.
"""

from __future__ import annotations

import base64
import functools
import http.client
import ipaddress
import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from pacsguard.assess.catalog import finding
from pacsguard.assess.model import Fact, Options, Section
from pacsguard.assess.net import Pacer, looking_context, nodelay
from pacsguard.assess.testdata import TEST_PATIENT_PREFIX, fresh_uid
from pacsguard.errors import AssessError
from pacsguard.findings import Finding, Severity

FAMILY = "web"
TITLE = "Web APIs"
MAX_BODY = 1 << 20


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect could lead off the named host: never followed


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to ``address`` (the one the host check accepted), whatever the URL's host
    name resolves to now; the Host header still names that host."""

    def __init__(self, host: str, *, address: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        nodelay(self.sock)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """The same over TLS: the TCP connection goes to ``address``; the TLS server name (SNI,
    and the name a verifying context checks) is the URL's host."""

    def __init__(self, host: str, *, address: str, context: ssl.SSLContext,
                 **kwargs: Any) -> None:
        super().__init__(host, context=context, **kwargs)
        self.address = address
        self.tls_context = context

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        nodelay(raw)
        try:
            self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_PinnedHTTPConnection, address=self.address),
                            req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, address: str, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self.address = address
        self.tls_context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_PinnedHTTPSConnection, address=self.address,
                                              context=self.tls_context), req)


@dataclass(frozen=True)
class Reply:
    status: int  # 0: no HTTP answer
    body: bytes = b""
    error: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Http:
    """GET/POST/DELETE to one base URL on the assessed host, paced, with a timeout."""

    def __init__(self, base: str, options: Options, pacer: Pacer,
                 user: str | None = None, password: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.timeout = options.timeout
        self.pacer = pacer
        address = options.target.address  # the address same_host() accepted
        # ProxyHandler({}): no proxy from the environment ever sees a request or a password;
        # the pinned handlers replace urllib's own, so every connection goes to ``address``
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _NoRedirect(), _PinnedHTTPHandler(address),
            _PinnedHTTPSHandler(address, looking_context()))
        self.auth = None
        if user:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            self.auth = f"Basic {token}"

    def request(self, path: str, method: str = "GET", data: bytes | None = None,
                auth: bool = False) -> Reply:
        self.pacer.wait()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json, application/dicom+json, */*")
        if auth and self.auth:
            req.add_header("Authorization", self.auth)
        try:
            with self.opener.open(req, timeout=self.timeout) as resp:
                return Reply(int(resp.status), resp.read(MAX_BODY))
        except urllib.error.HTTPError as exc:
            with exc:
                return Reply(int(exc.code), b"", exc.reason if isinstance(exc.reason, str)
                             else "")
        except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "reason", exc)
            return Reply(0, b"", str(reason))


class OrthancRest:
    """The few Orthanc REST calls an assessment makes (with the tester's credentials)."""

    def __init__(self, http: Http) -> None:
        self.http = http

    def delete_study(self, study_uid: str) -> str:
        """'deleted', 'absent', or why not. Every study the lookup finds under the UID is
        looked at (Orthanc keeps one per patient): those whose patient is pacsguard's test
        patient are deleted, any other is left alone."""
        found = self.http.request("/tools/lookup", "POST", study_uid.encode(), auth=True)
        if found.status != 200:
            return f"lookup failed (HTTP {found.status or found.error})"
        body = found.json()
        hits = [h for h in (body if isinstance(body, list) else []) if isinstance(h, dict)
                and h.get("Type") == "Study"]
        deleted = foreign = 0
        refused = ""
        for hit in hits:
            oid = urllib.parse.quote(str(hit.get("ID", "")), safe="")
            study = self.http.request(f"/studies/{oid}", auth=True)
            info = study.json() if study.status == 200 else None
            tags = info.get("PatientMainDicomTags") if isinstance(info, dict) else None
            pid = str(tags.get("PatientID", "")) if isinstance(tags, dict) else ""
            if not pid.startswith(TEST_PATIENT_PREFIX):
                foreign += 1  # not pacsguard's: never deleted
                continue
            gone = self.http.request(f"/studies/{oid}", "DELETE", auth=True)
            if gone.status == 200:
                deleted += 1
            elif not refused:
                refused = f"delete refused (HTTP {gone.status or gone.error})"
        if refused:
            return refused
        if deleted:
            return "deleted"
        if foreign:
            return "not deleted: the study found is not labelled as pacsguard's test"
        return "absent"


@dataclass(frozen=True)
class Web:
    orthanc_version: str = ""
    rest: OrthancRest | None = None  # usable for cleanup


def same_host(url: str, options: Options) -> str:
    """The URL, when it names the assessed host; else refused before anything is sent."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise AssessError(f"--http {url!r}: give an http:// or https:// URL of the assessed "
                          "node")
    host = parsed.hostname
    try:
        addresses = {str(ipaddress.ip_address(host))}
    except ValueError:
        try:
            addresses = {str(i[4][0]) for i in socket.getaddrinfo(
                host, parsed.port or 80, type=socket.SOCK_STREAM)}
        except socket.gaierror as exc:
            raise AssessError(f"--http {url!r}: cannot resolve {host} ({exc.strerror})"
                              ) from None
    if addresses != {options.target.address}:
        raise AssessError(f"--http {url!r}: {host} is not the assessed node "
                          f"{options.target.address} ({', '.join(sorted(addresses))}); only "
                          "the named node is contacted: name its address in the URL")
    return url


def check(options: Options, pacer: Pacer) -> tuple[Section, Web]:
    started = time.monotonic()
    if not options.http:
        return Section(FAMILY, TITLE, skipped="not asked: give --http URL to check the "
                       "node's web APIs"), Web()
    subject = options.http
    anon = Http(options.http, options, pacer)
    creds = Http(options.http, options, pacer, options.http_user, options.http_password)
    findings: list[Finding] = []
    facts: list[Fact] = []
    answered = False
    version = ""

    def judge(name: str, reply: Reply, open_when: bool, evidence: str) -> None:
        nonlocal answered
        if reply.status:
            answered = True
        facts.append(Fact(name, f"HTTP {reply.status}" if reply.status else
                          f"no answer ({reply.error})"))
        if open_when:
            findings.append(finding("WEB-NO-AUTH", Severity.HIGH, evidence, subject))

    system = anon.request("/system")
    body = system.json() if system.status == 200 else None
    orthanc = isinstance(body, dict) and "ApiVersion" in body
    if orthanc:
        version = str(body.get("Version", "")) if isinstance(body, dict) else ""
    judge("Orthanc REST /system", system, orthanc,
          f"GET {anon.base}/system without credentials answered 200 with Orthanc's system "
          f"information (version {version or '?'}): the REST API, which can read, change and "
          "delete every study, needs no authentication.")

    qido = anon.request("/dicom-web/studies?limit=1")
    qido_open = qido.status in (200, 204) and (qido.status == 204
                                               or isinstance(qido.json(), list))
    n = len(qido.json() or []) if qido.status == 200 and qido_open else 0
    judge("DICOMweb /dicom-web/studies", qido, qido_open,
          f"QIDO-RS {anon.base}/dicom-web/studies?limit=1 answered {qido.status} without "
          f"credentials ({n} study records in the page; none kept).")
    path = urllib.parse.urlsplit(options.http).path.rstrip("/")
    root_open = False
    if path and not path.endswith("/dicom-web"):
        root = anon.request("/studies?limit=1")
        root_open = root.status in (200, 204) and (root.status == 204
                                                   or isinstance(root.json(), list))
        judge("DICOMweb at the URL", root, root_open,
              f"QIDO-RS {anon.base}/studies?limit=1 answered {root.status} without "
              "credentials.")
    dcm4chee = anon.request("/dcm4chee-arc/aets")
    dcm4chee_open = dcm4chee.status == 200 and isinstance(dcm4chee.json(), list)
    judge("dcm4chee-arc REST /dcm4chee-arc/aets", dcm4chee, dcm4chee_open,
          f"GET {anon.base}/dcm4chee-arc/aets answered 200 without credentials.")
    # a 400 (or a 200) for made-up UIDs says something only from a DICOM web server: any web
    # server answers 400 to a request it does not understand
    dicom_web = orthanc or qido_open or root_open or dcm4chee_open
    fake = fresh_uid()
    wado = anon.request(f"/wado?requestType=WADO&studyUID={fake}&seriesUID={fake}"
                        f"&objectUID={fake}&contentType=application%2Fdicom")
    judge("WADO-URI /wado", wado, dicom_web and wado.status in (200, 400),
          f"WADO-URI {anon.base}/wado answered {wado.status} without credentials (for UIDs "
          "that do not exist) on a server identified as a DICOM web server: it does not ask "
          "who is retrieving.")
    if wado.status in (200, 400) and not dicom_web:
        facts.append(Fact("WADO-URI /wado judged", "no: the server was not identified as a "
                          "DICOM web server (no Orthanc /system, DICOMweb or dcm4chee-arc "
                          "answer), so its answer says nothing about authentication"))

    rest: OrthancRest | None = None
    if orthanc:
        rest = OrthancRest(anon)
    elif options.http_user:
        authed = creds.request("/system", auth=True)
        info = authed.json() if authed.status == 200 else None
        if isinstance(info, dict) and "ApiVersion" in info:
            version = str(info.get("Version", ""))
            rest = OrthancRest(creds)
            facts.append(Fact("Orthanc REST with the given credentials", f"version {version}"))
        else:
            facts.append(Fact("Orthanc REST with the given credentials",
                              f"HTTP {authed.status or authed.error}"))
    if answered and urllib.parse.urlsplit(options.http).scheme == "http":
        findings.append(finding(
            "WEB-PLAIN-HTTP", Severity.MEDIUM,
            f"{anon.base} answers over plain HTTP: credentials and images cross the network "
            "unencrypted.", subject))
    return (Section(FAMILY, TITLE, tuple(findings), tuple(facts),
                    seconds=time.monotonic() - started), Web(version, rest))
