"""One recorded expense."""

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """An expense: the day it was paid, its category, what it was for, and its cents."""

    day: datetime.date
    category: str
    description: str
    cents: int
