"""The optional `Examinable` (`qrun doctor` at scale): the database picks out the open
jobs that may need care; every one `core.invariants.needs_care` flags is among them."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from qrun.core import ClaimRequest, Decision, Failed, Lease, Status
from qrun.core.invariants import needs_care
from qrun.core.ports import Examinable, JobStore

from .base import POLICY, StoreFixtures, lease, step
from .builders import T0, at, new_job


class StoreSuspects(StoreFixtures):
    @pytest.fixture
    def examinable(self, store: JobStore) -> Examinable:
        if not isinstance(store, Examinable):
            pytest.skip(f"{type(store).__name__} does not offer Examinable (optional)")
        return store

    def test_every_job_that_needs_care_is_a_suspect_and_they_page_by_id(
        self, store: JobStore, examinable: Examinable
    ) -> None:
        store.submit(
            [
                new_job(id="a-failed", priority=9, max_attempts=1),
                new_job(id="b-orphan", depends_on=("a-failed",), on_dependency_failure="wait"),
                new_job(id="c-fine", priority=-5),
                new_job(id="d-leased", priority=8),
                new_job(id="e-broken", priority=-9),
            ]
        )
        (first,) = store.claim(ClaimRequest("w1", limit=1, now=T0, lease_until=lease(), policy=POLICY))
        step(store, first.job, Failed("boom", final=True))
        (leased,) = store.claim(ClaimRequest("w2", limit=1, now=T0, lease_until=lease(T0, 5), policy=POLICY))
        assert (first.job.id, leased.job.id) == ("a-failed", "d-leased")
        broken = store.get("e-broken")
        assert broken is not None
        store.apply(Decision(attrs.evolve(broken, lease=Lease("ghost", at(99)), version=broken.version + 1)))
        now = T0 + timedelta(seconds=60)

        def status(job_id: str) -> Status | None:
            job = store.get(job_id)
            return job.status if job else None

        want = {j.id for j in store.list() if needs_care(j, now, status)}
        assert want == {"b-orphan", "d-leased", "e-broken"}
        found = [j.id for j in examinable.suspects(now, 100)]
        assert found == sorted(found) and want <= set(found) and "a-failed" not in found
        assert [j.id for j in examinable.suspects(now, 1)] == found[:1]
        assert [j.id for j in examinable.suspects(now, 100, after=found[0])] == found[1:]
