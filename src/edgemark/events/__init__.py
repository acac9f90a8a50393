"""Events plane: the event schema, pseudonymous ids, the Parquet event log and ingestion.

Core install only at import time (stdlib + numpy); the log and ingestion import pyarrow
inside the functions that need it (extra ``train``).
"""

from __future__ import annotations

from edgemark.events._ingest import IngestResult, ingest_file
from edgemark.events._log import LOG_COLUMNS, EventLog, arrival_lags
from edgemark.events._mapping import EventMapping
from edgemark.events._pseudonym import Pseudonymizer
from edgemark.events._quarantine import REASON_CODES
from edgemark.events._schema import EVENT_COLUMNS, EVENT_TYPES, Event, validate_event

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_TYPES",
    "LOG_COLUMNS",
    "REASON_CODES",
    "Event",
    "EventLog",
    "EventMapping",
    "IngestResult",
    "Pseudonymizer",
    "arrival_lags",
    "ingest_file",
    "validate_event",
]
