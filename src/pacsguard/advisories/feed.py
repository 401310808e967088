"""A CSAF provider's published feed: provider-metadata.json and ROLIE (CSAF 2.0 §7.1, §7.3).

``pacsguard alerts import --feed https://PROVIDER/.well-known/csaf/provider-metadata.json``:

1. fetch ``provider-metadata.json`` (HTTPS only, certificate verified against the system
   store or ``--ca-file``; never disabled) and check it is CSAF 2.0 provider metadata;
2. follow every ROLIE feed in ``distributions[].rolie.feeds[]`` (§7.1.15; ROLIE is preferred
   over directory listings, §7.3) and collect each entry's document URL (``link`` rel ``self``,
   or ``content.src``) and hash file (``link`` rel ``hash``, ``.sha256`` or ``.sha512``);
3. fetch each document and its hash file and compare (§7.1.18); a document whose hash does not
   match, or whose hash file is missing, is rejected, never imported;
4. validate and import it as any CSAF file (all or nothing per document).

OpenPGP signatures (``.asc``, §7.1.19) are not checked yet: the result says so.
Redirects are followed only to other HTTPS URLs. Every response is size-limited.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

from sqlalchemy import Engine

from pacsguard.advisories.csaf import parse_bytes
from pacsguard.advisories.store import Imported, ImportResult, import_advisory
from pacsguard.errors import AdvisoryError, ConfigError

MAX_BYTES = 64 * 1024 * 1024
USER_AGENT = "pacsguard (CSAF 2.0 consumer)"


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> Any:
        if urlparse(newurl).scheme != "https":
            raise urllib.error.URLError(f"refused a redirect to a non-HTTPS URL: {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass(frozen=True)
class Fetcher:
    """HTTPS GETs with certificate verification and a size limit."""

    context: ssl.SSLContext
    timeout: float = 30.0

    @classmethod
    def create(cls, ca_file: Path | None = None, timeout: float = 30.0) -> Fetcher:
        ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return cls(ctx, timeout)

    def get(self, url: str) -> bytes:
        if urlparse(url).scheme != "https":
            raise AdvisoryError(f"{url}: only HTTPS URLs are fetched (CSAF 2.0 §7.1.1)")
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=self.context),
                                             _HttpsOnlyRedirects())
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            with opener.open(req, timeout=self.timeout) as resp:
                data: bytes = resp.read(MAX_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise AdvisoryError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise AdvisoryError(f"{url}: cannot fetch ({exc.reason})") from None
        except (TimeoutError, OSError) as exc:
            raise AdvisoryError(f"{url}: cannot fetch ({exc})") from None
        if len(data) > MAX_BYTES:
            raise AdvisoryError(f"{url}: larger than {MAX_BYTES // 2**20} MiB; refused")
        return data


def _json(data: bytes, url: str, what: str) -> dict[str, Any]:
    try:
        loaded = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdvisoryError(f"{url}: {what} is not JSON ({exc})") from None
    if not isinstance(loaded, dict):
        raise AdvisoryError(f"{url}: {what} is not a JSON object")
    return loaded


@dataclass(frozen=True)
class FeedEntry:
    document: str
    hash_url: str  # "" when the entry names none
    updated: str
    error: str = ""  # set when a whole feed could not be read: ``document`` is its URL


def feed_entries(fetcher: Fetcher, metadata_url: str) -> Iterator[FeedEntry]:
    meta = _json(fetcher.get(metadata_url), metadata_url, "provider metadata")
    if meta.get("metadata_version") != "2.0":
        raise AdvisoryError(f"{metadata_url}: metadata_version is "
                            f"{meta.get('metadata_version')!r}, not CSAF 2.0 provider metadata")
    feeds = [f.get("url", "") for d in _dicts(meta.get("distributions"))
             for f in _dicts(_dict(d.get("rolie")).get("feeds")) if isinstance(f.get("url"), str)]
    if not feeds:
        raise AdvisoryError(f"{metadata_url}: the provider publishes no ROLIE feed "
                            "(directory-based distribution is not read yet)")
    seen: set[str] = set()
    for feed_url in feeds:
        feed_url = urljoin(metadata_url, feed_url)
        try:
            feed = _dict(_json(fetcher.get(feed_url), feed_url, "ROLIE feed").get("feed"))
        except AdvisoryError as exc:  # one unreadable feed does not stop the others
            yield FeedEntry(feed_url, "", "", error=str(exc))
            continue
        for entry in _dicts(feed.get("entry")):
            links = [lk for lk in _dicts(entry.get("link")) if isinstance(lk.get("href"), str)]
            doc = next((lk["href"] for lk in links if lk.get("rel") == "self"), "") \
                or str(_dict(entry.get("content")).get("src") or "")
            if not doc:
                continue
            doc = urljoin(feed_url, doc)
            if doc in seen:
                continue
            seen.add(doc)
            hashes = [urljoin(feed_url, lk["href"]) for lk in links if lk.get("rel") == "hash"]
            best = next((h for h in hashes if h.endswith(".sha512")), "") or \
                next((h for h in hashes if h.endswith(".sha256")), "")
            yield FeedEntry(doc, best, str(entry.get("updated", "")))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The JSON objects of a list (anything else in a provider's file is ignored)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _check_hash(data: bytes, hash_file: bytes, entry: FeedEntry) -> None:
    words = hash_file.decode("ascii", "replace").split()
    if not words:
        raise AdvisoryError(f"{entry.hash_url}: empty hash file")
    algo = hashlib.sha512 if entry.hash_url.endswith(".sha512") else hashlib.sha256
    if words[0].lower() != algo(data).hexdigest():
        raise AdvisoryError(f"{entry.document}: its {algo().name} does not match "
                            f"{entry.hash_url}; not imported (corrupted or tampered in transit)")


def import_feed(engine: Engine, metadata_url: str, ca_file: Path | None = None,
                timeout: float = 30.0) -> Iterator[ImportResult]:
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(f"--ca-file {ca_file}: no such file")
    fetcher = Fetcher.create(ca_file, timeout)
    for entry in feed_entries(fetcher, metadata_url):
        if entry.error:
            yield ImportResult(entry.document, Imported.REJECTED, detail=entry.error)
            continue
        try:
            if not entry.hash_url:
                raise AdvisoryError(f"{entry.document}: the feed names no .sha256 or .sha512 "
                                    "file for it (CSAF 2.0 §7.1.18); not imported")
            data = fetcher.get(entry.document)
            _check_hash(data, fetcher.get(entry.hash_url), entry)
            adv = parse_bytes(data, entry.document)
        except AdvisoryError as exc:
            yield ImportResult(entry.document, Imported.REJECTED, detail=str(exc))
            continue
        yield import_advisory(engine, adv, data, entry.document)
