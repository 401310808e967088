"""Kill -9 the gateway while storescu sends 500 instances, restart it: every instance storescu
saw acknowledged reaches Orthanc, and the ledger still verifies (issue #4 §8)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread

from pacsguard.workspace import Workspace
from tests.fleet import OPTIMA_CT, write_images
from tests.gateway.helpers import Gateway, destination, wait_until, waiting
from tests.peers import orthanc


def _acknowledged(storescu_log: str) -> list[str]:
    """The files storescu saw answered with Success, from its verbose log."""
    acked, current = [], None
    for line in storescu_log.splitlines():
        m = re.search(r"Sending file: (.+)$", line)
        if m:
            current = m.group(1).strip()
        elif "Received Store Response" in line and "Success" in line and current:
            acked.append(current)
            current = None
    return acked


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def test_kill_9_mid_stream_loses_nothing_acknowledged(start_gateway: Callable[..., Gateway],
                                                      tmp_path: Path) -> None:
    images = tmp_path / "modality"
    write_images(images, OPTIMA_CT, 500)
    with orthanc(tmp_path / "orthanc") as pacs:
        gw = start_gateway(tail=destination(pacs.port))
        sender = subprocess.Popen(
            [shutil.which("storescu") or "storescu", "-v", "-to", "10", "-aet", "CT01", "-aec",
             "PACSGUARD", "+sd", "+r", "127.0.0.1", str(gw.port), str(images)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "TCP_NODELAY": "1"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(gw.ledger_uids()) < 40:
            time.sleep(0.05)
        forwarders = _children(gw.proc.pid)
        assert forwarders, "each destination's forwarder runs in a process of its own"
        gw.proc.send_signal(signal.SIGKILL)
        gw.proc.wait()
        # the forwarder dies with its gateway: it must not go on sending from the spool
        assert wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in forwarders), 15)
        log, _ = sender.communicate(timeout=120)
        acked = _acknowledged(log)
        assert 0 < len(acked) < 500, "the kill should land mid-stream"

        restarted = start_gateway(tail=destination(pacs.port))
        assert wait_until(lambda: waiting(restarted) == 0, 120)
        in_pacs = {str(i["MainDicomTags"]["SOPInstanceUID"])
                   for i in pacs.rest("/instances?expand")}
        acked_uids = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in acked}
        assert acked_uids <= in_pacs, f"{len(acked_uids - in_pacs)} acknowledged but lost"
        assert acked_uids <= restarted.ledger_uids()
        restarted.proc.send_signal(signal.SIGTERM)  # a clean stop signs a checkpoint
        assert restarted.proc.wait(timeout=60) == 0
    ledger, _, _ = Workspace(restarted.home).open_ledger(read_only=True)
    try:
        report = ledger.check_integrity()
        assert report.ok, report.problems
        assert (report.uncovered == 0 and report.size == len(acked_uids | set())) or \
            report.size >= len(acked_uids)
    finally:
        ledger.engine.dispose()
