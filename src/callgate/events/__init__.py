"""Call and call-taker events for CAD and dashboards over MQTT, and CAD's commands back."""

from callgate.events.publisher import EventPublisher, Topics, queue_state_of
from callgate.events.settings import MqttSettings, MqttTls

__all__ = ["EventPublisher", "MqttSettings", "MqttTls", "Topics", "queue_state_of"]
