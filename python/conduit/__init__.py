"""conduit: topics with fan-out, work queues and a write-ahead log of
memory-mapped segment files, from Python.

The classes are the C++ engine's (the extension module ``conduit._conduit``,
built with pybind11); see python/README.md for an example. Record payloads
are memoryviews of the mapped log (no copy), valid until the reader's next
poll, which releases them.
"""

from ._conduit import (  # noqa: F401  (re-exported)
    CODES,
    AlreadyExistsError,
    Batch,
    BusyError,
    ClosedError,
    Consumer,
    CorruptionError,
    Delivery,
    Engine,
    Error,
    InvalidArgumentError,
    IOFailureError,
    LogReader,
    Message,
    NotFoundError,
    ReaderInfo,
    ReadOnlyError,
    Record,
    RecoveryStats,
    Subscriber,
    TimedOutError,
    TooLargeError,
    Topic,
    TopicStats,
    UnsupportedError,
    WorkGroup,
    WorkGroupStats,
)

__all__ = [
    "CODES",
    "AlreadyExistsError",
    "Batch",
    "BusyError",
    "ClosedError",
    "Consumer",
    "CorruptionError",
    "Delivery",
    "Engine",
    "Error",
    "InvalidArgumentError",
    "IOFailureError",
    "LogReader",
    "Message",
    "NotFoundError",
    "ReaderInfo",
    "ReadOnlyError",
    "Record",
    "RecoveryStats",
    "Subscriber",
    "TimedOutError",
    "TooLargeError",
    "Topic",
    "TopicStats",
    "UnsupportedError",
    "WorkGroup",
    "WorkGroupStats",
]
