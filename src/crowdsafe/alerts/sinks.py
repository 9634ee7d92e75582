"""Alert sinks: deliver alert events to the outside without ever blocking the pipeline.

The rules this module carries, and why:

* ``send()`` only enqueues.  The analysis loop calls it, and a slow receiver, a dead
  broker or a DNS stall must cost that loop microseconds, never a frame.  I/O happens
  on the sink's own worker thread (and, for MQTT, on paho's network thread).
* Every queue is bounded and, when full, drops its OLDEST entry and counts it in
  ``dropped``.  An outage must not grow memory without limit, and after an outage the
  newest events are the ones an operator needs; the caller is never made to wait.
* A webhook delivery carries ``X-Crowdsafe-Delivery``, a UUID that stays the same on
  every retry of that delivery.  Retrying makes delivery at-least-once; the id lets a
  receiver make it effectively-once by ignoring an id it has already seen.  With a
  secret, the exact body bytes are signed (HMAC-SHA256) so a receiver can reject
  forgeries: see :meth:`WebhookSink.verify_signature`.
* Only failures that may pass are retried: connection errors, timeouts, 5xx and 429,
  with exponential backoff and jitter (jitter keeps many sinks from retrying in
  lockstep against a receiver that is coming back).  Any other 4xx means the receiver
  refuses this request, and sending the same bytes again will not change its mind.
* MQTT alerts go out with QoS 1 (at-least-once, acknowledged by the broker) and are not
  retained: an alert is an event, and a retained one would be replayed to every new
  subscriber as if it had just happened.  Zone state goes out with QoS 1 and
  ``retain=True``: it is a latest value, so a dashboard that subscribes later gets the
  current state at once.  Unsent states are coalesced to the newest per zone, so a long
  outage cannot push alerts out of the queue with stale states.
* paho-mqtt 2.2 keeps a QoS 1 message published while disconnected (``publish()``
  answers ``MQTT_ERR_NO_CONN``) and sends it after reconnecting, and resends messages
  that were unacknowledged when a connection dropped; tests pin both.  That is not a
  documented promise across paho releases, and paho's own store is unbounded, so
  :class:`MqttSink` keeps unsent messages in its own bounded queue and hands paho at
  most :data:`MQTT_WINDOW` unacknowledged messages, and only while connected.  After a
  reconnect it lets paho resend what was in flight before handing over new messages,
  so alerts reach the broker in the order they were sent.
* Health never holds secrets: URLs go through :func:`crowdsafe.ingest.url.redact`, and
  error text is scrubbed of the webhook secret, URL credentials and the MQTT password.

Licence: paho-mqtt is dual-licensed EPL-2.0 OR EDL-1.0; crowdsafe uses it under the
EDL-1.0 (Eclipse Distribution License, a BSD-3-Clause licence): its terms (keep the
copyright notice, no endorsement) are compatible with crowdsafe's MIT licence.
"""

from crowdsafe.alerts.base import (
    MQTT_WINDOW,
    SIGNATURE_HEADER,
    AlertSink,
    Clock,
    FakeSink,
    SinkHealth,
)
from crowdsafe.alerts.mqtt import MqttSink
from crowdsafe.alerts.webhook import WebhookSink

__all__ = [
    "MQTT_WINDOW",
    "SIGNATURE_HEADER",
    "AlertSink",
    "Clock",
    "FakeSink",
    "MqttSink",
    "SinkHealth",
    "WebhookSink",
]
