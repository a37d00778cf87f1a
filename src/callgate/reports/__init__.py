"""A centre's report: periods, figures and tables from the journal's rows, and the centre's time
zone and shifts from the config. Shared by ``callgate report`` (:mod:`callgate.tools.report`,
which documents the definitions) and the daemon's managers' report pages
(:mod:`callgate.daemon.report_service`), so that a period gives the same figures in both.

Below the daemon and above the adapters: it reads the journal through the storage adapter's
queries and knows nothing of HTTP, Asterisk or MQTT.
"""
