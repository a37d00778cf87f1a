"""The pure ACD core: events and ``now`` in, commands and the next deadline out.

Nothing in this package may import asyncio, sockets, clocks, databases or any adapter
(``tests/unit/core/test_purity.py`` checks it). Start reading at ``calls.py`` (the call state
machine) and ``acd.py`` (the facade that drives it).
"""

from callgate.core.acd import AUTO_PAUSE_REASON, Acd
from callgate.core.agents import AGENT_TRANSITIONS, AgentState, DeviceState
from callgate.core.calls import CALL_TRANSITIONS, TERMINAL_CALL_STATES, CallState
from callgate.core.commands import (
    AgentStateChanged,
    Bridge,
    CallEnded,
    CallStateChanged,
    CancelRing,
    Command,
    HangUpAgent,
    HangUpCaller,
    RingAgent,
    SendToDestination,
    StartWrapUp,
)
from callgate.core.config import AcdConfig
from callgate.core.errors import AcdConfigError, AcdError, AcdUsageError, InvalidTransitionError
from callgate.core.events import (
    AgencyJoined,
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNoAnswer,
    AgentPaused,
    AgentUnpaused,
    CallArrived,
    CallBridged,
    CallerHungUp,
    CallReprioritised,
    DestinationAnswered,
    DestinationFailed,
    DeviceStateChanged,
    Event,
    Priority,
)
from callgate.core.kpi import KpiReport, compute_kpis
from callgate.core.roster import Roster, Shift
from callgate.core.strategies import STRATEGIES, Strategy

__all__ = [
    "AGENT_TRANSITIONS",
    "AUTO_PAUSE_REASON",
    "CALL_TRANSITIONS",
    "STRATEGIES",
    "TERMINAL_CALL_STATES",
    "Acd",
    "AcdConfig",
    "AcdConfigError",
    "AcdError",
    "AcdUsageError",
    "AgencyJoined",
    "AgentAnswered",
    "AgentHungUp",
    "AgentLoggedIn",
    "AgentLoggedOut",
    "AgentNoAnswer",
    "AgentPaused",
    "AgentState",
    "AgentStateChanged",
    "AgentUnpaused",
    "Bridge",
    "CallArrived",
    "CallBridged",
    "CallEnded",
    "CallReprioritised",
    "CallState",
    "CallStateChanged",
    "CallerHungUp",
    "CancelRing",
    "Command",
    "DestinationAnswered",
    "DestinationFailed",
    "DeviceState",
    "DeviceStateChanged",
    "Event",
    "HangUpAgent",
    "HangUpCaller",
    "InvalidTransitionError",
    "KpiReport",
    "Priority",
    "RingAgent",
    "Roster",
    "SendToDestination",
    "Shift",
    "StartWrapUp",
    "Strategy",
    "compute_kpis",
]
