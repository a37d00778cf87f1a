"""CSV cells a spreadsheet opens as text, never as a formula (CSV injection).

Pause reasons, caller numbers, call-taker names and shift names come from outside (the admin
API, the carrier, the configuration) and end up in the CSV files callgate writes, which people
open in a spreadsheet. A cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula there (``=HYPERLINK(...)``, ``@SUM(...)``, ``-2+3``), so, as OWASP's "CSV
Injection" advises, such a cell is written with a single quote in front: the spreadsheet shows
the text, and a reader of the file sees at once that it was escaped.

A number is left as it is: an ``int`` or ``float``, or text that is only a number (``-1.5``,
``+6281234567890``, the caller numbers of a trace), which no spreadsheet runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: What makes a spreadsheet read a cell as a formula (OWASP, CSV Injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?", re.ASCII)


def cell(value: object) -> object:
    """``value`` as a CSV cell that no spreadsheet takes for a formula."""
    if not isinstance(value, str) or _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def row(values: Iterable[object]) -> list[object]:
    """Every cell of a row through :func:`cell`."""
    return [cell(value) for value in values]
