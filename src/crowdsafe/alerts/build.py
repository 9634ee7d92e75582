"""The alert sinks an ``alerts.sinks`` section asks for, each built by its ``kind``.

Each sink section carries its kind (``webhook``, ``mqtt``); :data:`SINK_KINDS` maps a
kind to its builder, so a new sink is one config model and one entry here.  Building
never blocks: sinks connect and deliver in the background.
"""

from __future__ import annotations

from collections.abc import Callable

from crowdsafe.alerts.base import AlertSink
from crowdsafe.alerts.mqtt import MqttSink
from crowdsafe.alerts.settings import MqttConfig, SinksConfig, WebhookConfig
from crowdsafe.alerts.webhook import WebhookSink

__all__ = ["SINK_KINDS", "build_sinks"]

SinkConfig = WebhookConfig | MqttConfig


def _webhook(w: SinkConfig, name: str) -> AlertSink:
    assert isinstance(w, WebhookConfig)
    return WebhookSink(
        w.url, secret=w.secret, timeout_s=w.timeout_s, max_retries=w.max_retries, name=name
    )


def _mqtt(m: SinkConfig, name: str) -> AlertSink:
    assert isinstance(m, MqttConfig)
    return MqttSink(
        m.host,
        m.port,
        topic_prefix=m.topic_prefix,
        username=m.username,
        password=m.password,
        tls=m.tls,
    )


# kind -> builder(section, name shown in health)
SINK_KINDS: dict[str, Callable[[SinkConfig, str], AlertSink]] = {
    "webhook": _webhook,
    "mqtt": _mqtt,
}


def build_sinks(config: SinksConfig) -> list[AlertSink]:
    """The sinks a config asks for, webhooks first.  Webhooks are named ``webhook``, or
    ``webhook-1``, ``webhook-2``... when there are several (names show in health)."""
    many = len(config.webhooks) > 1
    sections: list[tuple[SinkConfig, str]] = [
        (w, f"webhook-{i + 1}" if many else "webhook") for i, w in enumerate(config.webhooks)
    ]
    if config.mqtt is not None:
        sections.append((config.mqtt, "mqtt"))
    return [SINK_KINDS[section.kind](section, name) for section, name in sections]
