"""decision_id is uuid5 over listing, event and policy: computed by hand, it must give uuid5's value."""

from __future__ import annotations

import random
import uuid

from stream_filter.core.contracts.decision import DECISION_NAMESPACE, PolicyRef, decision_id


def test_equals_uuid5() -> None:
    rng = random.Random(17)
    alphabet = "abcXYZ019-_#@ é\u00a0\x1f"
    for _ in range(3000):
        listing, event = ("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20))) for _ in range(2))
        policy = PolicyRef(id=rng.choice(["default", "akar"]), version=str(rng.randint(1, 9)),
                           digest=rng.choice(["", "ab12", "ff00+01"]))
        content = f"#{policy.digest}" if policy.digest else ""
        name = f"{listing}\x1f{event}\x1f{policy.id}@{policy.version}{content}"
        assert decision_id(listing, event, policy) == str(uuid.uuid5(DECISION_NAMESPACE, name))
