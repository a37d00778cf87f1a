"""Call and call-taker events for CAD and dashboards over MQTT, and CAD's commands back.

Import from the modules (``callgate.events.publisher``, ``.commands``, ``.schema``...): this
package imports nothing, so that ``callgate.config`` can read ``callgate.events.settings``
without loading the publisher.
"""
