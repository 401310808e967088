"""The gateway's one configuration file (TOML), validated with clear errors (docs/gateway.md).

    [gateway]
    ae_title = "PACSGUARD"            # the called AE title modalities must use
    listen_address = "127.0.0.1"      # loopback unless configured
    port = 11112
    spool_dir = "/var/lib/pacsguard/spool"
    spool_max_bytes = 50_000_000_000  # refuse (0xA700) beyond this; optional
    min_free_bytes = 1_000_000_000    # refuse when the spool's disk has less free; optional
    audit_log = "/var/log/pacsguard/audit.jsonl"
    data_dir = "/var/lib/pacsguard"   # the ledger's data directory (optional: the default)
    allow_plain_tcp = false           # plain TCP only when this says so
    checkpoint_seconds = 60           # sign a checkpoint of the grown ledger this often
    max_instance_bytes = 4_294_967_296  # larger instances end the association (A-ABORT)

    [tls]                             # DICOM TLS (PS3.15 BCP 195): required unless plain allowed
    certificate = "server.crt"
    private_key = "server.key"
    client_ca = "ca.crt"              # optional: then every client needs a certificate it signed

    [[sender]]                        # the allow-list: who may send, and from where
    ae_title = "CT01"
    addresses = ["10.1.2.3", "10.1.4.0/24"]

    [[destination]]                   # where received images go (C-STORE), each on its own
    name = "pacs"
    ae_title = "PACS"
    host = "10.1.9.9"
    port = 104
    allow_plain_tcp = false           # or [destination.tls] ca = "pacs-ca.crt" ...
    max_attempts = 20                 # then the instance moves to the dead-letter area
    backoff_min_seconds = 1
    backoff_max_seconds = 300
    connections = 2                   # associations sending at once

    [scan]                            # weaponised files (docs/scan.md), checked on receipt
    on_threat = "reject"              # reject (failure status, kept aside), quarantine
                                      # (recorded, kept aside, Success), or off
    threshold = "high"                # a finding at or above this severity is a threat

Unknown keys are errors (a typo must not silently drop a setting); every error names the key.
Numbers and booleans are strict: ``port = "11112"`` is an error, not a guess. Relative paths are
relative to the configuration file. :meth:`GatewayConfig.warnings` names what is valid but
probably not meant (no sender allowed).
"""

from __future__ import annotations

import ipaddress
import ssl
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pacsguard.errors import ConfigError


def _aet(value: str) -> str:
    v = value.strip()
    if not v or len(v) > 16 or "\\" in v or not v.isprintable():
        raise ValueError("an AE title is 1 to 16 printable characters, no backslash")
    return v


AETitle = Annotated[str, AfterValidator(_aet)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sender(_Strict):
    ae_title: AETitle
    addresses: list[str] = Field(min_length=1)

    @field_validator("addresses")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for a in v:
            try:
                ipaddress.ip_network(a, strict=False)
            except ValueError:
                raise ValueError(f"{a!r} is not an IP address or network") from None
        return v

    def allows(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in ipaddress.ip_network(a, strict=False) for a in self.addresses)


class Tls(_Strict):
    certificate: Path
    private_key: Path
    client_ca: Path | None = None


class Gateway(_Strict):
    ae_title: AETitle
    listen_address: str = "127.0.0.1"
    port: int = Field(strict=True, ge=1, le=65535)
    spool_dir: Path
    spool_max_bytes: int | None = Field(default=None, strict=True, gt=0)
    min_free_bytes: int = Field(default=0, strict=True, ge=0)
    audit_log: Path
    data_dir: Path | None = None
    allow_plain_tcp: bool = Field(default=False, strict=True)
    # sign the grown ledger this often
    checkpoint_seconds: float = Field(default=60.0, strict=True, gt=0)
    # the largest instance taken (held in memory while it arrives); larger ends the association
    max_instance_bytes: int = Field(default=4 << 30, strict=True, gt=0)

    @field_validator("listen_address")
    @classmethod
    def _address(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise ValueError("must be an IP address (127.0.0.1 for loopback only)") from None
        return v


class DestinationTls(_Strict):
    ca: Path  # the CA (PEM) that signed the destination's certificate
    certificate: Path | None = None  # ours, when the destination wants a client certificate
    private_key: Path | None = None


class Destination(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    ae_title: AETitle
    host: str
    port: int = Field(strict=True, ge=1, le=65535)
    calling_ae_title: AETitle | None = None  # default: the gateway's own AE title
    tls: DestinationTls | None = None
    allow_plain_tcp: bool = Field(default=False, strict=True)
    max_attempts: int = Field(default=20, strict=True, ge=1)
    backoff_min_seconds: float = Field(default=1.0, strict=True, gt=0)
    backoff_max_seconds: float = Field(default=300.0, strict=True, gt=0)
    timeout_seconds: float = Field(default=10.0, strict=True, gt=0)
    # associations sending at once: a PACS answers each C-STORE only after storing it, so one
    # association waits out every store (measured: Orthanc took 1.6-1.9x as many instances
    # per second over two associations as over one)
    connections: int = Field(default=2, strict=True, ge=1, le=8)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client TLS context for this destination (TLS 1.2 or later, BCP 195; its
        certificate verified against ``tls.ca``), or None for plain TCP."""
        t = self.tls
        if t is None:
            return None
        ctx = ssl.create_default_context(cafile=str(t.ca))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if t.certificate is not None and t.private_key is not None:
            ctx.load_cert_chain(str(t.certificate), str(t.private_key))
        return ctx

    @model_validator(mode="after")
    def _transport(self) -> Destination:
        if self.tls is None and not self.allow_plain_tcp:
            raise ValueError(f"destination {self.name!r} has no [destination.tls]: set "
                             "allow_plain_tcp = true for it to send over plain TCP explicitly")
        return self


class OnThreat(StrEnum):
    """``[scan] on_threat``: what the gateway does with a weaponised instance."""

    REJECT = "reject"  # a failure status (0xC000), nothing recorded, the bytes kept aside
    QUARANTINE = "quarantine"  # recorded, kept aside, answered Success, never forwarded
    OFF = "off"  # no scan


class Scan(_Strict):
    """What the gateway does with a received instance that ``pacsguard scan`` finds
    weaponised (docs/gateway.md "Scanning on receipt")."""

    on_threat: OnThreat = OnThreat.REJECT
    threshold: Literal["low", "medium", "high", "critical"] = "high"


class GatewayConfig(_Strict):
    gateway: Gateway
    tls: Tls | None = None
    scan: Scan = Field(default_factory=Scan)
    sender: list[Sender] = Field(default_factory=list)
    destination: list[Destination] = Field(default_factory=list)

    @model_validator(mode="after")
    def _transport(self) -> GatewayConfig:
        if self.tls is None and not self.gateway.allow_plain_tcp:
            raise ValueError("no [tls] section: set gateway.allow_plain_tcp = true to accept "
                             "plain TCP explicitly, or configure [tls]")
        titles = [s.ae_title for s in self.sender]
        dup = sorted({t for t in titles if titles.count(t) > 1})
        if dup:
            raise ValueError(f"sender {dup[0]!r} is listed more than once")
        names = [d.name for d in self.destination]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"destination {dup[0]!r} is listed more than once")
        return self

    def warnings(self) -> list[str]:
        """What is valid but probably not meant (``gateway check-config`` prints these)."""
        out = []
        if not self.sender:
            out.append("no [[sender]] is allowed: the gateway will refuse every association "
                       "(A-ASSOCIATE-RJ, calling AE title not recognised); add a [[sender]] "
                       "with each modality's AE title and addresses")
        return out

    def destination_named(self, name: str) -> Destination | None:
        return next((d for d in self.destination if d.name == name), None)

    def sender_for(self, ae_title: str) -> Sender | None:
        return next((s for s in self.sender if s.ae_title == ae_title.strip()), None)


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


def _hint(error: Any) -> str:
    """Numbers and booleans are strict: a port written as "11112" is an error, not a guess
    (a quoted value is often a typo for another key's value, and TOML has real numbers)."""
    if error["type"] in ("int_type", "float_type", "bool_type") and \
            isinstance(error.get("input"), str):
        kind = "true or false" if error["type"] == "bool_type" else "a number"
        return f" (it is the string {error['input']!r}; write {kind} without quotes)"
    return ""


def load_config(path: Path) -> GatewayConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the gateway configuration ({exc.strerror})"
                          ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        cfg = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_where(tuple(e['loc']))}: {e['msg']}{_hint(e)}" for e in exc.errors()]
        raise ConfigError(f"{path}: " + "; ".join(problems)) from None
    base = path.resolve().parent

    def rel(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else base / p)

    g = cfg.gateway
    gateway = g.model_copy(update={"spool_dir": rel(g.spool_dir), "audit_log": rel(g.audit_log),
                                   "data_dir": rel(g.data_dir)})
    tls = None if cfg.tls is None else cfg.tls.model_copy(update={
        "certificate": rel(cfg.tls.certificate), "private_key": rel(cfg.tls.private_key),
        "client_ca": rel(cfg.tls.client_ca)})
    dests = [d if d.tls is None else d.model_copy(update={"tls": d.tls.model_copy(update={
        "ca": rel(d.tls.ca), "certificate": rel(d.tls.certificate),
        "private_key": rel(d.tls.private_key)})}) for d in cfg.destination]
    return cfg.model_copy(update={"gateway": gateway, "tls": tls, "destination": dests})
