"""A claim never hands out an impossible row (R-C1): it heals it, as the sanitizer would,
in the same write, and says so in `Claimed.healed` (R-C4). Such rows come from a bug, a
hand-edited database or a restore; each one-statement claim must see them too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import attrs
import pytest

from qrun.core import ClaimRequest, Decision, Handle, Job, Lease, Run, Status, violations
from qrun.core.ports import ApplyThenClaim, JobStore

from .base import POLICY, StoreFixtures, lease
from .builders import T0, new_job

BREAKS: dict[str, Callable[[Job], Job]] = {
    "a stale run and handle": lambda j: attrs.evolve(
        j, run=Run(f"{j.id}/1", handle=Handle("subprocess", "1:2"))
    ),
    "a lease": lambda j: attrs.evolve(j, lease=Lease("ghost", T0 + timedelta(hours=1))),
    "a start stamp": lambda j: attrs.evolve(j, started_at=T0),
    "a cancel request": lambda j: attrs.evolve(j, cancel_requested=True),
    "no attempt left": lambda j: attrs.evolve(j, attempts=j.max_attempts),
}


def _broken(store: JobStore, how: str) -> tuple[Job, Job]:
    """A queued row broken `how`, ahead of a clean one in the queue."""
    bad, good = new_job(priority=5), new_job(priority=0)
    store.submit([bad, good])
    stored = store.get(bad.id)
    assert stored is not None
    broken = attrs.evolve(BREAKS[how](stored), version=stored.version + 1)
    assert violations(broken), f"{how} should break R-C1"
    store.apply(Decision(broken))
    return broken, good


class StoreImpossibleRows(StoreFixtures):
    @pytest.mark.parametrize("how", sorted(BREAKS))
    def test_r_c1_a_claim_heals_an_impossible_row_instead_of_handing_it_out(
        self, store: JobStore, how: str
    ) -> None:
        broken, good = _broken(store, how)
        got = store.claim(ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY))
        self._check(store, got, broken, good)

    @pytest.mark.parametrize("how", sorted(BREAKS))
    def test_r_c1_a_claim_beside_a_write_heals_it_too(self, store: JobStore, how: str) -> None:
        if not isinstance(store, ApplyThenClaim):
            pytest.skip(f"{type(store).__name__} does not offer ApplyThenClaim (optional)")
        broken, good = _broken(store, how)
        _, got = store.apply_then_claim(
            [], ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY)
        )
        self._check(store, got, broken, good)

    def _check(self, store: JobStore, got: list[Decision], broken: Job, good: Job) -> None:
        assert [d.job.id for d in got] == [good.id], "only the coherent job is handed out"
        healed = getattr(got, "healed", None)
        assert healed is not None, "a claim returns core.claim.Claimed, which says what it healed"
        assert [h.before.id for h in healed] == [broken.id] and healed[0].found
        stored = store.get(broken.id)
        assert stored is not None and not violations(stored)
        assert stored == healed[0].decision.job
        assert stored.status in (Status.QUEUED, Status.FAILED) and (stored.error or "").startswith("healed")
        again = store.claim(ClaimRequest("w2", limit=5, now=T0, lease_until=lease(), policy=POLICY))
        assert getattr(again, "healed", []) == []  # healed once, by the claim that met it
