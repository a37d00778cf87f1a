"""Silent callers: the watch over a waiting call whose caller says nothing.

With ``AcdConfig.silence`` set, each new call is listened to (``StartListening``) while it
waits; the watch's own table is in ``silence.py``. Silence for a window brings a prompt
(``PlayPrompt``: press a key); a key or silence through the key window gives the call a new
class (``CallReclassified``); speech, a key press in time, or the call reaching a call-taker
ends the watch (``StopListening``).

=======================  ===========================================================
Event / timer            Move
=======================  ===========================================================
(call arrives)           ``StartListening``, the silence window armed
CallerSpoke              step ``SPOKE``
CallerPressedKey         step ``KEY``
WatchWindowEnded         step ``WINDOW_ENDED`` (silence or key window)
ListeningFailed          watch dropped (no talk detection: nobody looks silent)
=======================  ===========================================================
"""

from __future__ import annotations

from callgate.core.calls import Call, CallState
from callgate.core.commands import PlayPrompt, StartListening, StopListening
from callgate.core.events import CallerPressedKey, CallerSpoke, ListeningFailed
from callgate.core.floor import Floor, Out, Table, Timer
from callgate.core.screening import ScreeningPolicy, after_silence
from callgate.core.silence import SilenceWatch, WatchPhase, WatchStep, WatchTrigger

#: States in which a caller waits for a human: silence means something only then.
_WAITING = frozenset({CallState.QUEUED, CallState.OFFERED, CallState.OVERFLOWING})


class SilentCallers:
    """The silent-caller watches of waiting calls."""

    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        #: Silent-caller watches of waiting calls, by call id.
        self.watches: dict[str, SilenceWatch] = {}

    def table(self) -> Table:
        return {
            CallerSpoke: self.caller_spoke,
            CallerPressedKey: self.caller_pressed_key,
            ListeningFailed: self.listening_failed,
        }

    def watch(self, call: Call, now: float, out: Out) -> None:
        silence = self.floor.config.silence
        assert silence is not None
        watch = self.watches[call.call_id] = SilenceWatch(silence)
        out.append(StartListening(call.call_id))
        self.floor.arm(now + silence.silence_seconds, Timer.WATCH, call, watch.token)

    def forget(self, call_id: str) -> None:
        """The call is over: no watch."""
        self.watches.pop(call_id, None)

    def watching(self, call: Call, token: int) -> bool:
        """Whether the watch window timer ``token`` of ``call`` is still live."""
        return self._watch_of(call, token) is not None

    def _watch_of(self, call: Call, token: int) -> SilenceWatch | None:
        watch = self.watches.get(call.call_id)
        return watch if watch is not None and watch.token == token else None

    def window_ended(self, call: Call, token: int, now: float, out: Out) -> None:
        watch = self._watch_of(call, token)
        if watch is None:
            return
        listening = watch.phase is WatchPhase.LISTENING
        cause = "SilenceWindowEnded" if listening else "KeyWindowEnded"
        self._step(call, watch, WatchTrigger.WINDOW_ENDED, cause, now, out)

    def caller_spoke(self, event: CallerSpoke, now: float, out: Out) -> None:
        self._sign(event.call_id, WatchTrigger.SPOKE, now, out)

    def caller_pressed_key(self, event: CallerPressedKey, now: float, out: Out) -> None:
        self._sign(event.call_id, WatchTrigger.KEY, now, out)

    def _sign(self, call_id: str, trigger: WatchTrigger, now: float, out: Out) -> None:
        watch = self.watches.get(call_id)
        if watch is not None:
            self._step(self.floor.calls[call_id], watch, trigger, trigger.value, now, out)

    def listening_failed(self, event: ListeningFailed, now: float, out: Out) -> None:
        # Without talk detection every caller would look silent and be lowered as a ghost.
        self.watches.pop(event.call_id, None)

    def _step(
        self,
        call: Call,
        watch: SilenceWatch,
        trigger: WatchTrigger,
        cause: str,
        now: float,
        out: Out,
    ) -> None:
        if call.state not in _WAITING:
            # Being connected or connected: silence means nothing any more.
            self._end_watch(call, out)
            return
        step = watch.step(trigger)
        if step is WatchStep.PROMPT:
            silence = watch.policy
            out.append(PlayPrompt(call.call_id, silence.prompt))
            self.floor.arm(now + silence.key_seconds, Timer.WATCH, call, watch.token)
            return
        if step is not WatchStep.NOT_SILENT:
            policy = self.floor.config.screening or ScreeningPolicy()
            outcome = after_silence(step is WatchStep.RAISE, policy)
            shown = f"{outcome.tag} {call.caller_name}"
            self.floor.reclassify(call, outcome.priority, outcome.category, shown, cause, now, out)
        self._end_watch(call, out)

    def _end_watch(self, call: Call, out: Out) -> None:
        del self.watches[call.call_id]
        # Talk events for the rest of the call would only load the driver.
        out.append(StopListening(call.call_id))
