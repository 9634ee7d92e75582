"""The webhook sink: alert events POSTed as signed JSON, retried, never blocking.

See ``alerts/sinks.py`` for the rules (delivery id, signature, which failures are retried).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from crowdsafe.alerts.base import SIGNATURE_HEADER, Clock, SinkHealth, _encode, _require, _Stats
from crowdsafe.ingest.url import SourceAddress, redact
from crowdsafe.types import AlertEvent, ZoneSample

__all__ = ["WebhookSink"]


@dataclass(frozen=True, slots=True)
class _Delivery:
    id: str
    event: AlertEvent


def _retry_after_s(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds, when it is given as a number."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class WebhookSink:
    """POSTs each alert event as JSON to ``url`` from a worker thread.

    Retries connection errors, timeouts, 5xx and 429 up to ``max_retries`` times, waiting
    ``backoff_min_s`` doubling up to ``backoff_max_s`` (times a jitter in [0.5, 1]), or
    the receiver's numeric ``Retry-After`` capped at ``backoff_max_s``.  Each request is
    bounded by ``timeout_s`` seconds.  At most ``queue_size`` events wait; beyond that
    the oldest is dropped.  :meth:`publish_state` is a no-op: webhooks carry events.
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str | None,
        timeout_s: float = 5.0,
        max_retries: int = 5,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        queue_size: int = 1000,
        name: str = "webhook",
        clock: Clock = time.time,
    ) -> None:
        scheme = urlsplit(url).scheme.lower()
        _require(
            scheme in ("http", "https") and bool(urlsplit(url).hostname),
            f"webhook url {redact(url)!r} must be an http:// or https:// URL with a host",
        )
        _require(secret is None or secret != "", "webhook secret must be None or non-empty")
        _require(timeout_s > 0, f"timeout_s must be > 0 seconds, got {timeout_s}")
        _require(max_retries >= 0, f"max_retries must be >= 0, got {max_retries}")
        _require(
            0 < backoff_min_s <= backoff_max_s,
            f"backoffs must satisfy 0 < backoff_min_s <= backoff_max_s, "
            f"got {backoff_min_s} and {backoff_max_s}",
        )
        _require(queue_size >= 1, f"queue_size must be >= 1, got {queue_size}")
        self.name = name
        self._url = url
        self._address = SourceAddress.parse(url)
        self._secret = secret
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._backoff_min_s = backoff_min_s
        self._backoff_max_s = backoff_max_s
        self._queue_size = queue_size
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[_Delivery] = deque()
        self._stats = _Stats()
        self._closed = False
        self._deadline: float | None = None  # monotonic; set by close()
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
        self._thread = threading.Thread(
            target=self._run, name=f"crowdsafe-sink-{name}", daemon=True
        )
        self._thread.start()

    @staticmethod
    def signature(secret: str, body: bytes) -> str:
        """The ``X-Crowdsafe-Signature`` value for ``body``: ``sha256=<hex HMAC>``."""
        return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()

    @staticmethod
    def verify_signature(secret: str, body: bytes, header: str) -> bool:
        """True when ``header`` is the signature of exactly ``body`` under ``secret``.
        Compares in constant time; a malformed header is simply not valid."""
        expected = WebhookSink.signature(secret, body).encode("ascii")
        try:
            given = header.strip().encode("ascii")
        except UnicodeEncodeError:
            return False
        return hmac.compare_digest(expected, given)

    def send(self, event: AlertEvent) -> None:
        delivery = _Delivery(str(uuid.uuid4()), event)
        with self._cond:
            if self._closed:
                self._stats.failed += 1
                self._stats.last_error = f"send() after close(): {event.kind} event not delivered"
                return
            if len(self._queue) >= self._queue_size:
                self._queue.popleft()
                self._stats.dropped += 1
            self._queue.append(delivery)
            self._cond.notify_all()

    def publish_state(self, sample: ZoneSample) -> None:
        """Webhooks carry events only; zone state is for MQTT and the API."""

    def health(self) -> SinkHealth:
        with self._cond:
            return self._stats.snapshot(self.name, "webhook", None, len(self._queue))

    def close(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._deadline = time.monotonic() + max(0.0, timeout_s)
            self._cond.notify_all()
        # A request under way ends within its own timeout.
        self._thread.join(max(0.0, timeout_s) + self._timeout_s + 1.0)

    # -- worker thread

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    if self._past_deadline() or not self._queue:
                        self._stats.failed += len(self._queue)
                        self._queue.clear()
                        return
                    delivery = self._queue.popleft()
                try:
                    self._deliver(delivery)
                except Exception as exc:  # a bug here must not kill the worker
                    self._give_up(f"delivery {delivery.id} failed: {type(exc).__name__}: {exc}")
        finally:
            self._client.close()

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _deliver(self, delivery: _Delivery) -> None:
        body = _encode(delivery.event.to_dict())
        headers = {
            "Content-Type": "application/json",
            "X-Crowdsafe-Event": delivery.event.kind,
            "X-Crowdsafe-Delivery": delivery.id,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = self.signature(self._secret, body)
        attempts = self._max_retries + 1
        where = f"POST {self._address.display}"
        error = ""
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                with self._cond:
                    self._stats.retries += 1
            retry_after: float | None = None
            try:
                response = self._client.post(self._url, content=body, headers=headers)
            except httpx.TransportError as exc:  # refused, reset, DNS, timeouts
                error = f"{where} failed: {type(exc).__name__}: {str(exc) or 'no detail'}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    with self._cond:
                        self._stats.delivered += 1
                        self._stats.last_success_at = self._clock()
                    return
                error = f"{where} answered HTTP {status} {response.reason_phrase}".rstrip()
                if status < 500 and status != 429:
                    self._give_up(
                        f"{error}; not retried: only 5xx, 429 and network errors are retried"
                    )
                    return
                retry_after = _retry_after_s(response)
            self._note_error(f"{error} (attempt {attempt} of {attempts})")
            if attempt == attempts:
                break
            if retry_after is None:
                step_s = min(self._backoff_max_s, self._backoff_min_s * 2 ** (attempt - 1))
                delay_s = step_s * random.uniform(0.5, 1.0)
            else:
                delay_s = min(retry_after, self._backoff_max_s)
            if not self._pause(delay_s):
                self._give_up(f"{error}; closing, gave up after {attempt} attempt(s)")
                return
        self._give_up(f"{error}; gave up after {attempts} attempt(s)")

    def _pause(self, delay_s: float) -> bool:
        """Wait ``delay_s`` seconds, cut short by close()'s deadline; False past it."""
        end = time.monotonic() + delay_s
        with self._cond:
            while True:
                limit = end if self._deadline is None else min(end, self._deadline)
                left = limit - time.monotonic()
                if left <= 0:
                    return not self._past_deadline()
                self._cond.wait(left)

    def _scrub(self, text: str) -> str:
        text = self._address.scrub(text)
        return text if self._secret is None else text.replace(self._secret, "***")

    def _note_error(self, message: str) -> None:
        with self._cond:
            self._stats.last_error = self._scrub(message)

    def _give_up(self, message: str) -> None:
        with self._cond:
            self._stats.failed += 1
            self._stats.last_error = self._scrub(message)


# --------------------------------------------------------------------------- MQTT
