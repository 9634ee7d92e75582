"""Alerting: delivery of alert events to the outside (webhook, MQTT)."""

from crowdsafe.alerts.sinks import (
    MQTT_WINDOW,
    SIGNATURE_HEADER,
    AlertSink,
    FakeSink,
    MqttSink,
    SinkHealth,
    WebhookSink,
)

__all__ = [
    "MQTT_WINDOW",
    "SIGNATURE_HEADER",
    "AlertSink",
    "FakeSink",
    "MqttSink",
    "SinkHealth",
    "WebhookSink",
]
