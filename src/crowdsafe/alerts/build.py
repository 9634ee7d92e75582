"""The alert sinks an ``alerts.sinks`` section asks for, built by their kind."""

from __future__ import annotations

from crowdsafe.alerts.base import AlertSink
from crowdsafe.alerts.mqtt import MqttSink
from crowdsafe.alerts.settings import MqttConfig, SinksConfig, WebhookConfig
from crowdsafe.alerts.webhook import WebhookSink

__all__ = ["build_sinks"]


def _webhook(w: WebhookConfig, name: str) -> AlertSink:
    return WebhookSink(
        w.url, secret=w.secret, timeout_s=w.timeout_s, max_retries=w.max_retries, name=name
    )


def _mqtt(m: MqttConfig) -> AlertSink:
    return MqttSink(
        m.host,
        m.port,
        topic_prefix=m.topic_prefix,
        username=m.username,
        password=m.password,
        tls=m.tls,
    )


def build_sinks(config: SinksConfig) -> list[AlertSink]:
    """The webhook and MQTT sinks a config asks for; they connect in the background, so
    building never blocks on a receiver or a broker.  Webhooks are named ``webhook``, or
    ``webhook-1``, ``webhook-2``... when there are several (names show in health)."""
    many = len(config.webhooks) > 1
    sinks = [
        _webhook(w, f"webhook-{i + 1}" if many else "webhook")
        for i, w in enumerate(config.webhooks)
    ]
    if config.mqtt is not None:
        sinks.append(_mqtt(config.mqtt))
    return sinks
