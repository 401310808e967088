"""Specification of the verify use cases (pacsguard.app.verify): folders and a PACS, called
with plain arguments, returning the report and the discrepancies, printing nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread

from pacsguard.app.record import record_folders
from pacsguard.app.verify import verify_folders, verify_pacs
from pacsguard.errors import ConfigError
from pacsguard.integrity.status import Status
from pacsguard.workspace import Workspace
from tests.app.helpers import new_workspace, small_archive
from tests.peers import OrthancPeer, orthanc


def recorded(tmp_path: Path, images: int = 3) -> tuple[Workspace, Path, list[Path]]:
    ws = new_workspace(tmp_path / "home")
    archive = tmp_path / "archive"
    files = small_archive(archive, images)
    assert record_folders(ws, [archive], workers=1).ok
    return ws, archive, files


def test_verify_folders_of_an_untouched_archive_finds_nothing_and_prints_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws, archive, files = recorded(tmp_path)
    progress: list[tuple[int, int]] = []

    found = verify_folders(ws, [archive], workers=1,
                           on_progress=lambda n, b: progress.append((n, b)))

    size = sum(p.stat().st_size for p in files)
    assert found.ok and found.report.integrity.ok
    assert (found.report.files, found.report.bytes) == (len(files), size)
    assert found.report.counts == {Status.INTACT: len(files)}
    assert list(found.discrepancies) == []
    assert progress[0] == (0, 0) and progress[-1] == (len(files), size)
    assert capsys.readouterr() == ("", "")


def test_verify_folders_names_the_changed_image_worst_first(tmp_path: Path) -> None:
    ws, archive, files = recorded(tmp_path)
    ds = dcmread(files[2])
    ds.PatientID = "OTHER0001"
    ds.save_as(files[2])
    files[3].unlink()

    found = verify_folders(ws, [archive], workers=1)

    assert not found.ok and found.report.not_intact == 2
    assert [(d.status, d.path) for d in found.discrepancies] == [
        (Status.IDENTITY_ALTERED, str(files[2])), (Status.MISSING, str(files[3]))]


def gateway_config(tmp_path: Path, pacs_port: int, home: Path | None = None) -> Path:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(f"""
[gateway]
ae_title = "PACSGUARD"
port = 11112
spool_dir = "spool"
audit_log = "audit.jsonl"
data_dir = "{home or tmp_path / 'nowhere'}"
allow_plain_tcp = true

[[destination]]
name = "pacs"
ae_title = "ORTHANC"
host = "127.0.0.1"
port = {pacs_port}
allow_plain_tcp = true
timeout_seconds = 5
""")
    return cfg


@pytest.mark.parametrize(("kw", "message"), [
    ({"name": "archive"}, r"--pacs 'archive': .* has no \[\[destination\]\] with that name "
                          r"\(it has: pacs\)"),
    ({"since": "2024-01-01"}, r"--since '2024-01-01': use YYYYMMDD"),
    ({"until": "202401"}, r"--until '202401': use YYYYMMDD"),
    ({"sample": "0%"}, r"--sample '0%': give a percentage, e\.g\. 5%"),
    ({"sample": "half"}, r"--sample 'half': give a percentage"),
])
def test_verify_pacs_refuses_a_bad_request_before_opening_the_ledger(
        tmp_path: Path, kw: dict[str, str], message: str) -> None:
    """The configuration's data directory does not exist: each refusal comes first."""
    cfg = gateway_config(tmp_path, pacs_port=1)
    name = kw.pop("name", "pacs")
    with pytest.raises(ConfigError, match=message):
        verify_pacs(name, cfg, **kw)  # type: ignore[arg-type]


#: dcmtk's storescu profile that sends each file in its own transfer syntax (docs/gateway.md)
AS_THEY_ARE = Path(__file__).resolve().parents[2] / "docs" / "storescu-as-they-are.cfg"


def send(pacs: OrthancPeer, folder: Path) -> None:
    sent = subprocess.run([shutil.which("storescu") or "storescu", "-xf", str(AS_THEY_ARE),
                           "AsTheyAre", "-aec", "ORTHANC", "+sd", "+r", "127.0.0.1",
                           str(pacs.port), str(folder)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TCP_NODELAY": "1"})
    assert sent.returncode == 0, sent.stdout + sent.stderr


def test_verify_pacs_lists_retrieves_and_compares_what_a_real_pacs_holds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws, archive, files = recorded(tmp_path)
    sops = [str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files]
    with orthanc(tmp_path / "orthanc", extra={"StorageAccessOnFind": "Never"}) as pacs:
        send(pacs, archive)
        cfg = gateway_config(tmp_path, pacs.port, home=ws.data_dir)
        progress: list[tuple[int, int]] = []

        found = verify_pacs("pacs", cfg, on_progress=lambda n, b: progress.append((n, b)))

        # every retrieved instance is reported, intact ones too (with why they are intact)
        assert found.ok and {d.status for d in found.discrepancies} == {Status.INTACT}
        assert found.report.counts == {Status.INTACT: len(files)}
        assert (found.pacs, found.listed, found.missing, found.retrieved) == (
            "pacs", len(files), 0, len(files))
        assert found.report.files == len(files) and found.sample is None
        assert progress[0] == (0, 0) and progress[-1][0] == len(files)

        gone = next(str(i["ID"]) for i in pacs.rest("/instances?expand")
                    if i["MainDicomTags"]["SOPInstanceUID"] == sops[0])
        pacs.rest(f"/instances/{gone}", method="DELETE")
        found = verify_pacs("pacs", cfg, data_dir=ws.data_dir, sample="50%", seed=3)

    assert not found.ok
    worst, *rest = found.discrepancies
    assert (worst.status, worst.sop_instance_uid, worst.path) == (
        Status.MISSING, sops[0], "pacs:pacs")
    assert (found.listed, found.missing, found.sample, found.seed) == (
        len(files) - 1, 1, 0.5, 3)
    assert found.retrieved == round((len(files) - 1) * 0.5) == len(rest)
    assert found.report.counts == {Status.MISSING: 1, Status.INTACT: len(rest)}
    assert capsys.readouterr() == ("", "")
