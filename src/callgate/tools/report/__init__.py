"""``callgate report``: a centre's figures for a day, a shift or a date range, from the journal.

Parts, kept apart so the figures can be tested without a database:

- **periods** (:mod:`.periods`: :func:`day_period`, :func:`shift_period`, :func:`range_period`):
  local days and shifts (``pagi`` 07-15, ``siang`` 15-23, ``malam`` 23-07 by default) turned
  into UTC bounds;
- **the figures** (:mod:`.figures`, :mod:`.compute`: :func:`build_report`): rows in, a
  :class:`Report` out; pure, no IO, no clock; every figure over answer times is
  :mod:`callgate.core.kpi`'s, the same the simulator reports;
- **the loader** (:func:`open_journal_readonly`, :func:`load`): the storage layer's read-only
  journal and queries (:mod:`callgate.storage.reports`);
- **the renderers** (:mod:`.text`: :func:`render_text`; :mod:`.export`: :func:`write_csv`,
  :func:`write_png`) and **the command** (:mod:`.command`: :func:`main`);
- **the call-takers' report** (``--calltakers``; :mod:`.calltaker_figures`:
  :func:`build_calltaker_report`, its definitions of talk, pause and occupancy;
  :func:`render_calltakers_text`, :func:`write_calltakers_csv`).

Definitions, so the figures can be compared with NENA-STA-020.1 and :mod:`callgate.core.kpi`:

- a *112 call* is a row of ``calls`` started in the period whose category is not ``callback``
  (callback attempts are ACD pseudo-calls, not calls the public made);
- the figures cover the calls that *ended*; a call still in progress is only counted as such
  (the journal writes ``answered_at`` when a call ends);
- *answer time* = ``answered_at - started_at``: from the daemon taking the call to the answer
  of the call-taker who talked with the caller; a call with ``answered_at`` is *answered*;
- a call that was answered but has no ``answered_at`` (a conversation adopted after a restart)
  is counted apart, "answered, time unknown", and never as answered in time;
- overflow destinations may answer a call, but callgate does not know when: for answer times
  they count as not answered by a call-taker (the strict reading);
- calls of the fallback queue (outcome FALLBACK) are journaled from Asterisk's queue_log
  (:mod:`callgate.daemon.fallback`), with ``answered_at`` when a call-taker answered there:
  those count as answered, with that answer time; a fallback call answered by nobody has none.

The loader opens the database read-only and never migrates it: the report runs beside the
daemon (SQLite in WAL mode lets a reader in while it writes) or with the daemon stopped, and
must not change a schema a running daemon of another version relies on.
"""

from callgate.core.kpi import percentile
from callgate.reports.calltaker_figures import (
    CallTakerFigures,
    CallTakerReport,
    ShiftFigures,
    build_calltaker_report,
)
from callgate.reports.compute import build_report
from callgate.reports.figures import (
    ATTEMPT_OUTCOMES,
    BUCKETS,
    DISPOSITIONS,
    NENA_TARGETS,
    NUISANCE_DISPOSITIONS,
    OUTCOMES,
    SCREENING_CATEGORIES,
    TASK_REASONS,
    TASK_STATES,
    UNDISPOSED,
    AnswerTimes,
    Callbacks,
    CategoryRow,
    HourRow,
    Nena,
    NuisanceRow,
    Report,
    Share,
)
from callgate.reports.periods import (
    DEFAULT_SHIFTS,
    Period,
    ReportUsageError,
    ShiftHours,
    day_period,
    parse_datetime,
    parse_shifts,
    range_period,
    shift_period,
    zone,
)
from callgate.storage.reports import (
    CallbackAttemptFacts,
    CallbackTaskFacts,
    CallFacts,
    open_journal_readonly,
    readonly_url,
)
from callgate.tools.report.command import (
    DATABASE,
    DEFAULT_CONFIG,
    DEFAULT_TZ,
    OK,
    USAGE,
    add_arguments,
    load,
    main,
    period_from_args,
    run,
)
from callgate.tools.report.export import (
    CALLTAKER_CSV_FILES,
    CSV_FILES,
    write_calltakers_csv,
    write_csv,
    write_png,
)
from callgate.tools.report.text import render_calltakers_text, render_text

__all__ = [
    "ATTEMPT_OUTCOMES",
    "BUCKETS",
    "CALLTAKER_CSV_FILES",
    "CSV_FILES",
    "DATABASE",
    "DEFAULT_CONFIG",
    "DEFAULT_SHIFTS",
    "DEFAULT_TZ",
    "DISPOSITIONS",
    "NENA_TARGETS",
    "NUISANCE_DISPOSITIONS",
    "OK",
    "OUTCOMES",
    "SCREENING_CATEGORIES",
    "TASK_REASONS",
    "TASK_STATES",
    "UNDISPOSED",
    "USAGE",
    "AnswerTimes",
    "CallFacts",
    "CallTakerFigures",
    "CallTakerReport",
    "CallbackAttemptFacts",
    "CallbackTaskFacts",
    "Callbacks",
    "CategoryRow",
    "HourRow",
    "Nena",
    "NuisanceRow",
    "Period",
    "Report",
    "ReportUsageError",
    "Share",
    "ShiftFigures",
    "ShiftHours",
    "add_arguments",
    "build_calltaker_report",
    "build_report",
    "day_period",
    "load",
    "main",
    "open_journal_readonly",
    "parse_datetime",
    "parse_shifts",
    "percentile",
    "period_from_args",
    "range_period",
    "readonly_url",
    "render_calltakers_text",
    "render_text",
    "run",
    "shift_period",
    "write_calltakers_csv",
    "write_csv",
    "write_png",
    "zone",
]
