"""What a failed send means: send the same record again, or stop retrying and say why.

Why its own rule: retrying every error like a network blip turned a revoked write permission, a
deleted topic or a record the broker will never take into a silent, endless spin. aiokafka marks
the broker's own error codes as retriable or not; errors raised by the client itself (a timeout,
a closed connection, a producer being restarted) are about reaching the broker, so they are
retried, and so is a partition the client's metadata does not know yet (a topic that just grew).
Faust wraps client errors raised while sending in `ProducerSendError`; the cause decides.
"""

from __future__ import annotations

from enum import StrEnum

from aiokafka.errors import BrokerResponseError, KafkaError, MessageSizeTooLargeError, RecordListTooLargeError
from faust.exceptions import ProducerSendError


class SendError(StrEnum):
    RETRIABLE = "retriable"  # broker unreachable, leader moving, timeouts: the same record again
    PERMANENT = "permanent"  # authorization, invalid topic or record: retrying alone will not help
    TOO_LARGE = "too_large"  # the record (or its batch) is over the broker's limit
    OTHER = "other"  # not a Kafka error at all: a bug or a record that cannot be sent


def cause_of(exc: BaseException) -> BaseException:
    return exc.__cause__ if isinstance(exc, ProducerSendError) and exc.__cause__ is not None else exc


def classify(exc: BaseException) -> SendError:
    cause = cause_of(exc)
    if isinstance(cause, MessageSizeTooLargeError | RecordListTooLargeError):
        return SendError.TOO_LARGE
    if isinstance(cause, BrokerResponseError) and cause.errno not in (None, -1) and not cause.retriable:
        return SendError.PERMANENT  # -1 is the broker's "unknown server error": maybe transient
    if isinstance(cause, KafkaError | ProducerSendError) or _unknown_partition(cause):
        return SendError.RETRIABLE
    return SendError.OTHER


def _unknown_partition(exc: BaseException) -> bool:
    """aiokafka asserts that an explicit partition is in its metadata (`AIOKafkaProducer._partition`):
    right after a topic grew, a state record for a new partition meets metadata not refreshed yet."""
    return isinstance(exc, AssertionError) and "Unrecognized partition" in str(exc)


def describe(exc: BaseException) -> str:
    """The error's name and the client's message, without record content (the clients put none in)."""
    cause = cause_of(exc)
    name, text = type(cause).__name__, str(cause).strip()
    return text if name in text else f"{name}: {text}" if text else name
