"""What the service lets in, decided before it buffers or works: bearer tokens, bodies read
under a size cap, a time limit and a cap on concurrent reads, webhook signatures checked while
the body streams in, deliveries seen before, and the repository a delivery is about.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import OrderedDict
from typing import Any

import anyio
from fastapi import Request

_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")
_DELIVERY = re.compile(r"[A-Za-z0-9-]{1,64}")


# An HTTP answer of the service, never of the CLI, so not of the error family (errors.py).
class Refused(Exception):
    """A request the service answers with `status` and {"error": message}."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())  # one line, always
        self.headers = headers or {}


def require_bearer(request: Request, token: str | None) -> None:
    """With a token configured, the request must carry `Authorization: Bearer <token>`."""
    if token is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                             token.encode()):
        raise Refused(401, "missing or wrong bearer token; send 'Authorization: Bearer "
                           "<GITOPS_GEN_API_TOKEN>'", {"WWW-Authenticate": "Bearer"})


class Readers:
    """At most `limit` request bodies read at once; one more is refused at once (503)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reading = 0
        self.peak = 0

    def enter(self) -> None:
        if self.reading >= self.limit:
            raise Refused(503, "too many requests being read; retry shortly")
        self.reading += 1
        self.peak = max(self.peak, self.reading)

    def leave(self) -> None:
        self.reading -= 1


def _declared_too_large(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"request body over {limit} bytes")


async def read_body(request: Request, limit: int, readers: Readers, seconds: float) -> bytes:
    """The body: at most limit bytes, within seconds, counted among the concurrent reads."""
    _declared_too_large(request, limit)
    readers.enter()
    try:
        body = bytearray()
        with anyio.move_on_after(seconds) as scope:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise Refused(413, f"request body over {limit} bytes")
        if scope.cancelled_caught:
            raise Refused(408, f"the request body did not arrive within {seconds:g} s")
        return bytes(body)
    finally:
        readers.leave()


async def read_signed(request: Request, secret: str, limit: int, readers: Readers,
                      seconds: float, *, keep: bool) -> bytes:
    """The body of a signed webhook delivery, its HMAC computed while it streams in.

    Refused before a byte is read when the signature header is missing or malformed; the
    body is kept only when keep (an event the service acts on), else only hashed.
    """
    header = request.headers.get("x-hub-signature-256", "").strip()
    if not _SIGNATURE.fullmatch(header):
        raise Refused(401, "missing or invalid X-Hub-Signature-256; the webhook's secret must "
                           "equal GITOPS_GEN_WEBHOOK_SECRET")
    _declared_too_large(request, limit)
    readers.enter()
    try:
        mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
        body = bytearray()
        size = 0
        with anyio.move_on_after(seconds) as scope:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise Refused(413, f"request body over {limit} bytes")
                mac.update(chunk)
                if keep:
                    body += chunk
        if scope.cancelled_caught:
            raise Refused(408, f"the request body did not arrive within {seconds:g} s")
    finally:
        readers.leave()
    if not hmac.compare_digest(("sha256=" + mac.hexdigest()).encode(), header.encode()):
        raise Refused(401, "missing or invalid X-Hub-Signature-256; the webhook's secret must "
                           "equal GITOPS_GEN_WEBHOOK_SECRET")
    return bytes(body)


def parse_json(body: bytes) -> Any:
    """The body as JSON ({} when empty); 400 for anything else, too deep nesting included."""
    try:
        return json.loads(body) if body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "request body is not JSON") from None
    except RecursionError:
        raise Refused(400, "request body nests too deep") from None


class Deliveries:
    """X-GitHub-Delivery ids seen in the last `ttl` seconds (at most `size` of them): a replayed
    or repeated delivery is answered without validating again."""

    def __init__(self, ttl: float = 3600.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, delivery: str) -> bool:
        """Record delivery; False when it was seen within ttl (a replay)."""
        now = time.monotonic()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - self.ttl:
                self._seen.popitem(last=False)
            if delivery in self._seen:
                return False
            # Room is made only for a new one: a replay never pushes out the oldest seen.
            while self._seen and len(self._seen) >= self.size:
                self._seen.popitem(last=False)
            self._seen[delivery] = now
            return True

    def forget(self, delivery: str) -> None:
        """A delivery the service could not act on (busy): its redelivery must be acted on."""
        with self._lock:
            self._seen.pop(delivery, None)


def delivery_id(request: Request) -> str:
    delivery = request.headers.get("x-github-delivery", "").strip()
    if not _DELIVERY.fullmatch(delivery):
        raise Refused(400, "missing or malformed X-GitHub-Delivery header")
    return delivery
