"""Which send errors are retried and which are not: the broker's own verdict, unwrapped from Faust's."""

from __future__ import annotations

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
    UnknownError,
)
from faust.exceptions import ProducerSendError

from stream_filter.kafka.send_errors import SendError, classify, describe


def _wrapped(cause: BaseException) -> ProducerSendError:
    exc = ProducerSendError("send failed")
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(("error", "kind"), [
    (TopicAuthorizationFailedError(), SendError.PERMANENT),
    (_wrapped(TopicAuthorizationFailedError()), SendError.PERMANENT),
    (KafkaConnectionError(), SendError.RETRIABLE),
    (KafkaTimeoutError(), SendError.RETRIABLE),
    (NotLeaderForPartitionError(), SendError.RETRIABLE),
    (UnknownError(), SendError.RETRIABLE),
    (ProducerSendError("no cause"), SendError.RETRIABLE),
    (_wrapped(MessageSizeTooLargeError()), SendError.TOO_LARGE),
    (ValueError("bad header"), SendError.OTHER),
    (AssertionError("Unrecognized partition"), SendError.RETRIABLE),  # metadata older than the topic's growth
    (_wrapped(AssertionError("Unrecognized partition")), SendError.RETRIABLE),
    (AssertionError("a bug"), SendError.OTHER),
])
def test_classify(error: BaseException, kind: SendError) -> None:
    assert classify(error) is kind


def test_describe_names_the_cause_once() -> None:
    described = describe(_wrapped(TopicAuthorizationFailedError("denied")))
    assert described.count("TopicAuthorizationFailedError") == 1 and "denied" in described
    assert describe(ValueError("bad")) == "ValueError: bad"
    assert describe(ValueError()) == "ValueError"
