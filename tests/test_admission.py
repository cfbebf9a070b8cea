"""What the service lets in (service/admission.py), one decision at a time, on requests built
in-process: the bearer token, body limits, webhook signatures, replayed deliveries.

tests/test_server.py checks the same decisions through a real uvicorn server; these pin each
boundary so that a weakened comparison fails here.
"""

from __future__ import annotations

import hashlib
import hmac
import types
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from starlette.requests import Request

from gitops_gen.service import admission
from gitops_gen.service.admission import (
    Deliveries,
    Readers,
    Refused,
    delivery_id,
    parse_json,
    read_body,
    read_signed,
    require_bearer,
)

Receive = Callable[[], Awaitable[dict[str, Any]]]


def _chunks(*chunks: bytes) -> Receive:
    parts = list(chunks) or [b""]

    async def receive() -> dict[str, Any]:
        body = parts.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(parts)}

    return receive


async def _never() -> dict[str, Any]:
    await anyio.sleep(30)
    raise AssertionError("the body limit's clock did not stop the read")


def request(headers: dict[str, str] | None = None, receive: Receive | None = None) -> Request:
    scope = {
        "type": "http", "method": "POST", "path": "/", "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    return Request(scope, receive or _chunks())


def refusal(call: Callable[[], Any]) -> Refused:
    with pytest.raises(Refused) as caught:
        call()
    return caught.value


# --- Refused ---

def test_a_refusal_is_one_line_with_its_status_and_headers() -> None:
    refused = Refused(418, "  first line\n\tsecond   line ", {"Retry-After": "1"})
    assert (refused.status, refused.message, refused.headers) == (
        418, "first line second line", {"Retry-After": "1"})
    assert str(refused) == "  first line\n\tsecond   line "


def test_a_refusal_without_headers_has_none() -> None:
    assert Refused(400, "no").headers == {}


# --- bearer token ---

def test_no_token_configured_lets_every_request_in() -> None:
    require_bearer(request(), None)
    require_bearer(request({"Authorization": "Basic nonsense"}), None)


@pytest.mark.parametrize("header", [
    "Bearer s3cret", "bearer s3cret", "BEARER s3cret", "Bearer s3cret  ", "Bearer  s3cret",
])
def test_the_right_bearer_token_is_let_in(header: str) -> None:
    require_bearer(request({"Authorization": header}), "s3cret")


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET",
    "Basic s3cret", "Bearers3cret", "Token s3cret", "s3cret", "Bearer\ts3cret",
])
def test_a_missing_or_wrong_bearer_token_is_refused_with_a_challenge(header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    refused = refusal(lambda: require_bearer(request(headers), "s3cret"))
    assert refused.status == 401
    assert refused.headers == {"WWW-Authenticate": "Bearer"}
    assert refused.message == ("missing or wrong bearer token; send 'Authorization: Bearer "
                               "<GITOPS_GEN_API_TOKEN>'")
    assert "s3cret" not in refused.message


# --- concurrent readers ---

def test_readers_refuse_one_more_than_the_limit_and_count_the_peak() -> None:
    readers = Readers(2)
    readers.enter()
    readers.enter()
    refused = refusal(readers.enter)
    assert (refused.status, refused.message) == (503, "too many requests being read; "
                                                      "retry shortly")
    assert (readers.reading, readers.peak) == (2, 2)
    readers.leave()
    assert readers.reading == 1
    readers.enter()
    assert (readers.reading, readers.peak) == (2, 2)


# --- bodies ---

def read(req: Request, limit: int, readers: Readers, seconds: float = 5.0) -> bytes:
    return anyio.run(read_body, req, limit, readers, seconds)


def test_a_body_at_the_limit_is_read_whole_across_chunks() -> None:
    readers = Readers(1)
    assert read(request({"Content-Length": "6"}, _chunks(b"abc", b"def")), 6, readers) \
        == b"abcdef"
    assert (readers.reading, readers.peak) == (0, 1)


def test_an_empty_body_reads_as_empty() -> None:
    assert read(request(), 0, Readers(1)) == b""


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    readers = Readers(1)
    refused = refusal(lambda: read(request({"Content-Length": "7"}, _never), 6, readers))
    assert (refused.status, refused.message) == (413, "request body over 6 bytes")
    assert readers.peak == 0


def test_a_declared_length_that_is_not_a_number_is_left_to_the_stream() -> None:
    assert read(request({"Content-Length": "-1"}, _chunks(b"ab")), 6, Readers(1)) == b"ab"


def test_a_body_that_streams_past_the_limit_is_refused() -> None:
    readers = Readers(1)
    refused = refusal(lambda: read(request({}, _chunks(b"abcd", b"efg")), 6, readers))
    assert (refused.status, refused.message) == (413, "request body over 6 bytes")
    assert readers.reading == 0


def test_a_body_that_does_not_arrive_in_time_is_refused() -> None:
    readers = Readers(1)
    refused = refusal(lambda: read(request({}, _never), 6, readers, seconds=0.05))
    assert (refused.status, refused.message) == (408, "the request body did not arrive "
                                                      "within 0.05 s")
    assert readers.reading == 0


def test_a_body_read_when_readers_are_full_is_refused_without_leaving_a_count() -> None:
    readers = Readers(1)
    readers.enter()
    refused = refusal(lambda: read(request({}, _chunks(b"x")), 6, readers))
    assert refused.status == 503
    assert readers.reading == 1


# --- signed bodies ---

SECRET = "webhook-secret"


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(req: Request, *, limit: int = 64, keep: bool = True, seconds: float = 5.0,
           readers: Readers | None = None) -> bytes:
    return anyio.run(lambda: read_signed(req, SECRET, limit, readers or Readers(1), seconds,
                                         keep=keep))


BAD_SIGNATURE = ("missing or invalid X-Hub-Signature-256; the webhook's secret must equal "
                 "GITOPS_GEN_WEBHOOK_SECRET")


def test_a_signed_body_is_kept_when_asked_and_only_hashed_otherwise() -> None:
    body = b'{"action": "opened"}'
    headers = {"X-Hub-Signature-256": signature(body)}
    assert signed(request(headers, _chunks(body[:5], body[5:]))) == body
    assert signed(request(headers, _chunks(body[:5], body[5:])), keep=False) == b""


def test_a_signature_header_with_spaces_around_it_is_read() -> None:
    body = b"{}"
    assert signed(request({"X-Hub-Signature-256": f"  {signature(body)} "},
                          _chunks(body))) == body


@pytest.mark.parametrize("header", [
    None, "", "sha256=", "sha1=" + "0" * 40, "sha256=" + "0" * 63, "sha256=" + "0" * 65,
    "sha256=" + "A" * 64, "SHA256=" + "0" * 64, "x" + "sha256=" + "0" * 64,
])
def test_a_malformed_signature_header_is_refused_before_a_byte_is_read(
        header: str | None) -> None:
    readers = Readers(1)
    headers = {} if header is None else {"X-Hub-Signature-256": header}
    refused = refusal(lambda: signed(request(headers, _never), readers=readers))
    assert (refused.status, refused.message) == (401, BAD_SIGNATURE)
    assert readers.peak == 0


@pytest.mark.parametrize("keep", [True, False])
def test_a_body_signed_with_another_secret_is_refused(keep: bool) -> None:
    body = b'{"action": "opened"}'
    readers = Readers(1)
    wrong = request({"X-Hub-Signature-256": signature(body, "other")}, _chunks(body))
    refused = refusal(lambda: signed(wrong, keep=keep, readers=readers))
    assert (refused.status, refused.message) == (401, BAD_SIGNATURE)
    assert (readers.reading, readers.peak) == (0, 1)


def test_a_body_changed_after_signing_is_refused() -> None:
    header = {"X-Hub-Signature-256": signature(b'{"a": 1}')}
    assert refusal(lambda: signed(request(header, _chunks(b'{"a": 2}')))).status == 401


def test_a_signed_body_at_the_limit_is_read_and_one_byte_more_is_refused() -> None:
    body = b"x" * 8
    assert signed(request({"X-Hub-Signature-256": signature(body)},
                          _chunks(body[:4], body[4:])), limit=8) == body
    readers = Readers(1)
    over = request({"X-Hub-Signature-256": signature(body + b"y")}, _chunks(body, b"y"))
    refused = refusal(lambda: signed(over, limit=8, keep=False, readers=readers))
    assert (refused.status, refused.message) == (413, "request body over 8 bytes")
    assert readers.reading == 0


def test_a_signed_body_declared_over_the_limit_is_refused_before_reading() -> None:
    headers = {"X-Hub-Signature-256": signature(b""), "Content-Length": "9"}
    readers = Readers(1)
    refused = refusal(lambda: signed(request(headers, _never), limit=8, readers=readers))
    assert refused.status == 413
    assert readers.peak == 0


def test_a_signed_body_that_does_not_arrive_in_time_is_refused() -> None:
    readers = Readers(1)
    slow = request({"X-Hub-Signature-256": signature(b"")}, _never)
    refused = refusal(lambda: signed(slow, seconds=0.05, readers=readers))
    assert (refused.status, refused.message) == (408, "the request body did not arrive "
                                                      "within 0.05 s")
    assert readers.reading == 0


# --- JSON ---

@pytest.mark.parametrize(("body", "parsed"), [
    (b"", {}), (b" \n\t", {}), (b'{"a": [1, 2]}', {"a": [1, 2]}), (b" [] ", []), (b"0", 0),
])
def test_json_bodies(body: bytes, parsed: Any) -> None:
    assert parse_json(body) == parsed


@pytest.mark.parametrize(("body", "message"), [
    (b"{", "request body is not JSON"),
    (b"\xff\xfe{", "request body is not JSON"),
    (b"nope", "request body is not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "request body nests too deep"),
])
def test_bodies_that_are_not_json(body: bytes, message: str) -> None:
    refused = refusal(lambda: parse_json(body))
    assert (refused.status, refused.message) == (400, message)


# --- deliveries seen before ---

@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The deliveries' clock, set by the test (the module's own time.monotonic)."""
    now = [1000.0]
    monkeypatch.setattr(admission, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    return now


def test_a_delivery_is_new_once_then_a_replay(clock: list[float]) -> None:
    deliveries = Deliveries()
    assert deliveries.first_time("a") is True
    assert deliveries.first_time("a") is False
    assert deliveries.first_time("b") is True


def test_a_delivery_is_a_replay_up_to_its_ttl_and_new_after(clock: list[float]) -> None:
    deliveries = Deliveries(ttl=10.0)
    assert deliveries.first_time("a")
    clock[0] += 10.0
    assert not deliveries.first_time("a")
    clock[0] += 0.001
    assert deliveries.first_time("a")


def test_expired_deliveries_go_oldest_first(clock: list[float]) -> None:
    deliveries = Deliveries(ttl=10.0)
    assert deliveries.first_time("old")
    clock[0] += 6.0
    assert deliveries.first_time("young")
    clock[0] += 5.0
    assert deliveries.first_time("other")  # "old" expires here, "young" does not
    assert not deliveries.first_time("young")
    assert deliveries.first_time("old")


def test_at_most_size_deliveries_are_remembered_oldest_out_first(clock: list[float]) -> None:
    deliveries = Deliveries(size=2)
    assert deliveries.first_time("a")
    assert deliveries.first_time("b")
    assert deliveries.first_time("c")  # "a" goes
    assert not deliveries.first_time("b")
    assert not deliveries.first_time("c")
    assert deliveries.first_time("a")  # "b" goes
    assert not deliveries.first_time("c")
    assert deliveries.first_time("b")


def test_a_forgotten_delivery_is_new_again(clock: list[float]) -> None:
    deliveries = Deliveries()
    assert deliveries.first_time("a")
    assert deliveries.first_time("b")
    deliveries.forget("a")
    deliveries.forget("never-seen")
    assert deliveries.first_time("a")
    assert not deliveries.first_time("b")


@pytest.mark.parametrize(("header", "delivery"), [
    ("72d3162e-cc78-11e3-81ab-4c9367dc0958", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ("  abc-DEF-123 ", "abc-DEF-123"),
    ("x", "x"),
    ("a" * 64, "a" * 64),
])
def test_delivery_ids(header: str, delivery: str) -> None:
    assert delivery_id(request({"X-GitHub-Delivery": header})) == delivery


@pytest.mark.parametrize("header", [None, "", "  ", "a" * 65, "a b", "a_b", "../etc", "é"])
def test_a_missing_or_malformed_delivery_id_is_refused(header: str | None) -> None:
    headers = {} if header is None else {"X-GitHub-Delivery": header}
    refused = refusal(lambda: delivery_id(request(headers)))
    assert (refused.status, refused.message) == (400, "missing or malformed X-GitHub-Delivery "
                                                      "header")
