"""The broker launcher's pure helpers."""

import uuid

import pytest

from stream_filter.dev import local_kafka


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xf8 encodes to "-" as the first base64url character: the storage tool would read it as a flag.
    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" + bytes(15))])
    monkeypatch.setattr(local_kafka.uuid, "uuid4", lambda: next(drawn))
    cluster_id = local_kafka.new_cluster_id()
    assert not cluster_id.startswith("-")
    assert cluster_id == "EAAAAAAAAAAAAAAAAAAAAA"
