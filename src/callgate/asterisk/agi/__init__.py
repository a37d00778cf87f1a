"""A small asyncio FastAGI server that no client can stall.

Asterisk's ``AGI(agi://host:port/path)`` opens a TCP connection, sends a block of ``agi_*: value``
header lines ended by a blank line, then waits for commands (``SET VARIABLE ...``) and answers each
with ``200 result=N (data)`` or a ``5xx`` error. This package only translates between that wire
format and Python values; what a feature code means is decided by the handlers.

Why not panoramisk's FastAGI server: on Python 3.11 it fails at import of ``asyncio.coroutine``,
and a client that closes before sending its headers freezes the whole event loop (DEPS.md). Here
every read has a deadline, and whatever one client does (EOF, garbage, half a header then
silence, a handler that raises) ends only its own session, with one log line.

Anything on the host can connect (the port is loopback only, ``[agi] listen_host``), so a request
acts only if its script path begins with the shared secret (``[agi] secret``, which Asterisk reads
from a file only it can read); one without is closed before any handler runs, and neither the
secret nor what was presented instead is ever logged. The feature codes' handlers then ask
Asterisk itself, over ARI, whether the channel the request claims exists (see
:mod:`callgate.asterisk.agent_codes`). Connecting needs no credential, so everything a peer can
make the server hold before that check is bounded too:
bytes per line, per header block and per session; lines per answer; time for the header and for
each answer; sessions in all and per peer address. A connection that has not sent its header yet
holds no session slot, and when too many wait, the oldest is closed: Asterisk sends its header at
once, so a flood of idle connections cannot lock out the real feature codes. Warnings about
dropped clients are rate-limited, so a burst of bad clients costs a few log lines, not thousands.

Two modules: :mod:`~callgate.asterisk.agi.protocol` (the wire format, errors and
:class:`~callgate.asterisk.agi.protocol.AgiSession`, which handlers use) and
:mod:`~callgate.asterisk.agi.fastagi` (:class:`~callgate.asterisk.agi.fastagi.AgiServer`: the
connections and their limits). The feature codes' handlers are
:mod:`callgate.asterisk.agent_codes`; the ``[agi]`` settings are in
:mod:`callgate.asterisk.settings`. This package imports neither module itself.
"""
