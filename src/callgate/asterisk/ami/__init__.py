"""A thin AMI adapter on panoramisk: the call-takers' phones (device state, registration) and
the fallback queue, nothing more.

It only translates AMI into small typed values; what a phone's state means for the ACD is decided
by the core (:func:`~callgate.asterisk.ami.messages.to_core_device_state` is the one mapping).
What it relies on, as the lab's Asterisk 16.28 sends it (recorded in ``tests/fixtures/ami``):

- ``PJSIPShowEndpoints`` lists every endpoint as ``EndpointList`` events with ``ObjectName``,
  ``DeviceState`` (human words: ``Not in use``, ``In use``, ``Unavailable``...) and ``Contacts``
  (``aor/uri,`` for each contact). This is the snapshot taken after every (re)connect.
- ``ContactStatus`` events (``EndpointName``, ``AOR``, ``URI``, ``ContactStatus``: ``Created``,
  ``NonQualified``, ``Reachable``, ``Unreachable``, ``Removed``...) follow registrations.
- ``DeviceStateChange`` events (``Device: PJSIP/1001``, ``State: NOT_INUSE``) exist only when
  ``res_manager_devicestate.so`` is loaded (``asterisk-conf/modules.conf`` loads it). Until the
  first one arrives the client re-reads ``PJSIPShowEndpoints`` whenever a PJSIP channel or
  contact changes (``Newchannel``, ``Newstate``, ``Hangup``, ``ContactStatus``), so availability
  follows the phone either way. (``ListCommands`` cannot tell: it lists only the actions the AMI
  user may run, and callgate's writes only ``system``.)

Two modules, split by responsibility:

- :mod:`~callgate.asterisk.ami.messages`: AMI messages in, typed values out; pure (apart from
  logging a peer's bad input once), tested on the recorded messages;
- :mod:`~callgate.asterisk.ami.client`: the connection (:class:`~.client.AmiClient`): login,
  keepalive, reconnect, the endpoints' snapshot and the events that change it.

This package imports neither itself. Its settings (``[ami]``) are in
:mod:`callgate.asterisk.settings`.
"""
