"""The web side reaches only the assessed node: no proxy from the environment, no second name
lookup (DNS rebinding), no redirect; a WADO answer counts only from a DICOM web server; and
the REST cleanup deletes every labelled study under a UID, and only those."""

from __future__ import annotations

import io
import json
import socket
import urllib.request
from typing import Any

import pytest

from pacsguard.assess import web
from pacsguard.assess.net import Pacer
from pacsguard.assess.testdata import fresh_uid, labelled_instance
from pacsguard.assess.write import _with_meta
from tests.assess.targets import Orthanc, contacted, listener, options, web_peer

PROXY_VARIABLES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                   "ALL_PROXY")


def test_no_request_and_no_password_goes_to_a_proxy_named_in_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with listener() as (proxy_port, proxy), web_peer(status=404) as site:
        for name in PROXY_VARIABLES:
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy_port}")
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        opts = options(site.port, http=site.url, http_user="admin",
                       http_password="secret", timeout=0.5)
        web.check(opts, Pacer(50))
        assert not contacted(proxy)
    assert ("GET", "/system", f"127.0.0.1:{site.port}") in site.requests


def test_a_host_name_that_resolves_elsewhere_later_is_not_followed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name resolves to the node for the host check, then to another
    address. Every request still goes to the address that was checked, named by its host."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "pacs.rebind.test":
            lookups.append(host)
            host = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with web_peer(status=404) as site, listener("127.0.0.2", site.port) as (_, elsewhere):
        url = f"http://pacs.rebind.test:{site.port}/"
        opts = options(site.port, http=url, timeout=0.5)
        web.same_host(url, opts)
        web.check(opts, Pacer(50))
        assert not contacted(elsewhere)
    assert len(lookups) == 1  # the name was looked up once, for the check
    assert site.requests and {h for _, _, h in site.requests} == \
        {f"pacs.rebind.test:{site.port}"}


def test_a_redirect_to_another_host_is_not_followed() -> None:
    with listener("127.0.0.2") as (other_port, other), \
            web_peer(status=302, headers={"Location": f"http://127.0.0.2:{other_port}/"}) \
            as site:
        section, _ = web.check(options(site.port, http=site.url, timeout=0.5), Pacer(50))
        assert not contacted(other)
    assert {f.value for f in section.facts} == {"HTTP 302"}


def test_a_400_from_a_web_server_that_is_not_a_dicom_server_is_not_a_finding() -> None:
    with web_peer(status=400, body=b"<html>bad request</html>") as site:
        section, _ = web.check(options(site.port, http=site.url), Pacer(50))
    assert not [f for f in section.findings if f.id == "WEB-NO-AUTH"]
    facts = {f.name: f.value for f in section.facts}
    assert facts["WADO-URI /wado"] == "HTTP 400"
    assert facts["WADO-URI /wado judged"].startswith("no: the server was not identified")


def _post(peer: Orthanc, ds: Any) -> None:
    from pydicom.filewriter import dcmwrite

    buf = io.BytesIO()
    dcmwrite(buf, _with_meta(ds), enforce_file_format=True)
    req = urllib.request.Request(peer.url + "instances", data=buf.getvalue(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read())["Status"] == "Success"


def test_cleanup_deletes_the_labelled_study_even_when_a_foreign_one_shares_its_uid(
        orthanc_default: Orthanc) -> None:
    """Orthanc keeps one study per patient and Study Instance UID: another patient's study
    under the same UID, found first, is left alone, and pacsguard's is still deleted."""
    peer = orthanc_default
    uid = fresh_uid()
    foreign = labelled_instance(study_uid=uid, patient_id="SOMEONE-ELSE-1")
    foreign.PatientName = "ELSE^SOMEONE"
    _post(peer, foreign)  # first: the lookup lists it first
    _post(peer, labelled_instance(study_uid=uid))
    assert peer.instances() == 2
    opts = options(peer.port, http=peer.url)
    rest = web.OrthancRest(web.Http(peer.url, opts, Pacer(50)))
    assert rest.delete_study(uid) == "deleted"
    assert peer.instances() == 1
    [left] = peer.rest("/patients")
    assert peer.rest(f"/patients/{left}")["MainDicomTags"]["PatientID"] == "SOMEONE-ELSE-1"
    # a UID under which only the foreign study remains is reported, not deleted
    assert rest.delete_study(uid).startswith("not deleted")
    assert peer.instances() == 1
