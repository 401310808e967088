"""Association policy: whom does the node talk to? (PS3.8 §9.3.2-9.3.4, PS3.7 Annex D.3.3)

1. **Channel.** One A-ASSOCIATE-RQ over plain TCP; if the port does not answer as DICOM, the
   same over TLS (presenting the tester's client certificate when one was given).
2. **Any called AE title?** That first request calls the node by a title no site has
   configured (``PGC`` and random hex) from a calling title no site has configured (``PG`` and
   random hex). Accepted: the called title is not checked.
3. **A working called title.** Otherwise the title given with ``--called-aet``; without one
   (or with ``--guesses N``), a bounded list of well-known default titles (in the spirit of
   nmap's dicom-brute), one request each, paced by ``--rate``. A tester who names the title
   has said what to call: guessing others as well is done only when asked. A title is right
   when the node accepts it, or when its A-ASSOCIATE-RJ reason changes from "called AE title
   not recognised" (source 1, reason 7) to another reason, typically "calling AE title not
   recognised" (reason 3): that difference alone tells an attacker the title.
4. **Any calling AE title?** The request with the working called title and the random calling
   title: accepted means no allow-list of senders.

The rest of the assessment calls with that unknown calling title, so every later finding
describes what *anyone* on the network can do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pacsguard.assess.catalog import finding
from pacsguard.assess.model import Fact, Options, Section, guess_limit
from pacsguard.assess.net import Answer, Channel, Pacer, Reply, negotiate, random_aet
from pacsguard.dicom.pdu import Proposal
from pacsguard.dicom.status import CALLED_NOT_RECOGNISED, CALLING_NOT_RECOGNISED
from pacsguard.dicom.uids import VERIFICATION
from pacsguard.findings import Finding, Severity

#: Default and commonly configured called AE titles, most likely first: product defaults
#: (dcmtk, Orthanc, dcm4chee, Conquest, ClearCanvas, Horos/OsiriX, Merge) and generic names.
DEFAULT_CALLED_AETS: tuple[str, ...] = (
    "ANY-SCP", "ORTHANC", "DCM4CHEE", "STORESCP", "DCMQRSCP", "PACS", "ARCHIVE", "SERVER",
    "DICOM", "AE_TITLE", "AETITLE", "STORE_SCP", "QRSCP", "CONQUESTSRV1", "CLEARCANVAS",
    "OSIRIX", "HOROS", "MERGE_PACS", "KPSERVER", "PACS1", "DCMSERVER", "MAIN", "IMAGESERVER",
    "WORKLIST",
)
FAMILY = "policy"
TITLE = "Association policy"


@dataclass(frozen=True)
class Access:
    """What the rest of the assessment needs to know about reaching the node."""

    channel: Channel
    dicom: bool  # the node answered as a DICOM node on this channel
    calling_aet: str  # the unknown calling title every later check calls with
    called_aet: str  # the title later checks call (may be unconfirmed when nothing worked)
    called_known: bool  # the node is known to answer to called_aet
    any_called: bool | None
    any_calling: bool | None
    accepted: Answer | None  # the A-ASSOCIATE-AC the unknown caller got, if any
    plain_answer: Answer  # what plain TCP got first

    @property
    def associates(self) -> bool:
        """An unknown caller gets an association: the DIMSE checks can run."""
        return self.accepted is not None

    @property
    def gap(self) -> bool:
        """The DIMSE checks cannot run for want of a way in (not DICOM, no called title
        known): the assessment is incomplete. A node that refuses the unknown caller is a
        result, not a gap."""
        return not self.dicom or not self.called_known

    def why_not(self) -> str:
        """Why the DIMSE checks cannot run ('' when they can)."""
        if not self.dicom:
            return "the node did not answer as DICOM (see the association policy)"
        if not self.called_known:
            return "no called AE title the node answers to is known (give --called-aet)"
        if self.accepted is None:
            return "the node refuses associations from unknown calling AE titles"
        return ""


def _channel_for(options: Options, pacer: Pacer, called: str, calling: str,
                 facts: list[Fact]) -> tuple[Channel, Answer, Answer]:
    t = options.target
    plain = Channel(t.host, t.address, t.port)
    proposals = [Proposal(VERIFICATION)]
    first = negotiate(plain, called, calling, proposals, options.timeout, pacer)
    facts.append(Fact("plain TCP", first.describe()))
    if first.dicom:
        return plain, first, first
    tls = Channel(t.host, t.address, t.port, tls=True, client=options.tls)
    over_tls = negotiate(tls, called, calling, proposals, options.timeout, pacer)
    facts.append(Fact("TLS on the same port", over_tls.describe()
                      + ("" if options.tls.certificate else " (no client certificate given)")))
    if over_tls.dicom or (over_tls.outcome == Reply.TLS_ERROR
                          and "ALERT" in over_tls.detail.upper()):
        return tls, over_tls, first  # a TLS alert: it speaks TLS, wants something more
    return plain, first, first


def check(options: Options, pacer: Pacer) -> tuple[Section, Access]:
    started = time.monotonic()
    subject = options.target.text
    facts: list[Fact] = []
    findings: list[Finding] = []
    calling = random_aet("PG")
    probe_called = random_aet("PGC")
    channel, first, plain_answer = _channel_for(options, pacer, probe_called, calling, facts)
    facts.insert(0, Fact("unknown titles used", f"calling {calling}, called {probe_called} "
                         "(random; configured nowhere)"))

    def done(access: Access, skipped: str = "") -> tuple[Section, Access]:
        return Section(FAMILY, TITLE, tuple(findings), tuple(facts), skipped,
                       time.monotonic() - started, incomplete=access.gap), access

    if not first.dicom:
        access = Access(channel, False, calling, options.called_aet or probe_called, False,
                        None, None, None, plain_answer)
        hint = (" It may require a client certificate: give --tls-cert and --tls-key."
                if channel.tls or first.outcome in (Reply.CLOSED, Reply.TLS_ERROR) else "")
        return done(access, f"the node did not answer as DICOM ({first.describe()}).{hint}")
    facts.append(Fact("channel", channel.describe()))

    any_called: bool | None = None
    any_calling: bool | None = None
    accepted: Answer | None = None
    working = ""
    if first.outcome == Reply.ACCEPTED:
        any_called = any_calling = True
        accepted = first
        findings.append(finding(
            "ASSOC-ANY-CALLED", Severity.LOW,
            f"An A-ASSOCIATE-RQ calling the node '{probe_called}' (a title configured "
            f"nowhere) from '{calling}' was accepted.", subject))
        working = probe_called
        if options.called_aet:
            again = negotiate(channel, options.called_aet, calling, [Proposal(VERIFICATION)],
                              options.timeout, pacer)
            facts.append(Fact(f"called '{options.called_aet}' (given)", again.describe()))
            if again.outcome == Reply.ACCEPTED:
                working, accepted = options.called_aet, again
    else:
        baseline = first.rejection if first.outcome == Reply.REJECTED else None
        if baseline == CALLED_NOT_RECOGNISED:
            any_called = False
        facts.append(Fact("unknown called title", first.describe()))
        limit = guess_limit(options, len(DEFAULT_CALLED_AETS))
        candidates = ([(options.called_aet, False)] if options.called_aet else []) + [
            (aet, True) for aet in DEFAULT_CALLED_AETS[:limit] if aet != options.called_aet]
        tried = 0
        default_hit = ""
        for aet, guessed in candidates:
            if guessed and default_hit:
                break
            answer = negotiate(channel, aet, calling, [Proposal(VERIFICATION)],
                               options.timeout, pacer)
            tried += guessed
            right = answer.outcome == Reply.ACCEPTED or (
                answer.outcome == Reply.REJECTED and baseline is not None
                and answer.rejection != baseline)
            if not right:
                if not guessed:
                    facts.append(Fact(f"called '{aet}' (given)", answer.describe()))
                continue
            if not working:
                working = aet
                if answer.outcome == Reply.ACCEPTED:
                    any_calling, accepted = True, answer
                elif answer.rejection == CALLING_NOT_RECOGNISED:
                    any_calling = False
                facts.append(Fact(f"called '{aet}'", answer.describe()))
            if aet in DEFAULT_CALLED_AETS:
                default_hit = aet
                how = ("accepted the association" if answer.outcome == Reply.ACCEPTED else
                       f"answered '{answer.describe()}' instead of "
                       f"'{first.describe()}', which confirms the title")
                findings.append(finding(
                    "ASSOC-DEFAULT-CALLED", Severity.LOW,
                    f"The well-known title '{aet}' {how}"
                    + (f" (found after {tried} of {len(DEFAULT_CALLED_AETS)} guesses at "
                       f"{1 / pacer.interval:g} requests/s)." if guessed else "."), subject))
        facts.append(Fact("default called titles tried", str(tried)))
    if any_calling:
        findings.append(finding(
            "ASSOC-ANY-CALLING", Severity.MEDIUM,
            f"Calling '{working}' from the unknown calling title '{calling}': the "
            "association was accepted.", subject))
    if not working:
        access = Access(channel, True, calling, options.called_aet or probe_called, False,
                        any_called, any_calling, None, plain_answer)
        if not options.called_aet:
            why = "no called AE title the node answers to was found; give --called-aet"
        elif options.guesses is None:
            why = (f"the node does not answer to the given --called-aet "
                   f"'{options.called_aet}'; no default titles were tried (--guesses N to "
                   "try them too)")
        else:
            why = (f"the node answers neither to the given --called-aet "
                   f"'{options.called_aet}' nor to the default titles tried")
        return done(access, why)
    facts.append(Fact("called title used", working))
    facts.append(Fact("unknown calling title",
                      "accepted" if any_calling else
                      ("rejected (calling AE title not recognised)" if any_calling is False
                       else "not determined")))
    return done(Access(channel, True, calling, working, True, any_called, any_calling,
                       accepted, plain_answer))
