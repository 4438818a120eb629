"""Job ids sort by creation time and do not collide."""

import time

from qrun.adapters.ids import new_id


def test_ids_sort_by_creation_time_and_are_unique():
    first = [new_id() for _ in range(1000)]
    time.sleep(0.002)
    later = new_id()
    assert len(set(first)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in first)
    assert max(first) < later
