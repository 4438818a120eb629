"""R-E3: the git worktree pool adapter against a real repository made in the test."""

import threading

import pytest
from gitrepo import git, make_repo

from qrun.adapters.pools import GitWorktreePool, PoolPrepareError


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "repo")


def test_r_e3_a_slot_is_a_worktree_made_on_first_use(repo, tmp_path):
    pool = GitWorktreePool("wt", repo, tmp_path / "wts")
    assert not (tmp_path / "wts").exists()
    place = pool.prepare(2)
    assert place.cwd == str(tmp_path / "wts" / "slot-2")
    assert (tmp_path / "wts" / "slot-2" / "tracked.txt").read_text() == "v1\n"
    assert place.env["QRUN_WORKTREE"] == place.cwd
    assert place.env["QRUN_WORKTREE_COMMIT"] == git(repo, "rev-parse", "HEAD")
    assert str(tmp_path / "wts" / "slot-2") in git(repo, "worktree", "list")


def test_r_e3_a_slot_is_reset_to_a_clean_checkout_before_each_job(repo, tmp_path):
    pool = GitWorktreePool("wt", repo, tmp_path / "wts")
    wt = tmp_path / "wts" / "slot-0"
    pool.prepare(0)
    # What a job leaves behind: an edit, a new file, an ignored build dir, a commit, a branch.
    (wt / "tracked.txt").write_text("scribbled\n")
    (wt / "new.txt").write_text("junk")
    (wt / "build").mkdir()
    (wt / "build" / "out.o").write_text("obj")
    git(wt, "-c", "user.email=j@x", "-c", "user.name=j", "commit", "-qam", "a job's commit")
    (wt / "tracked.txt").write_text("again\n")
    pool.prepare(0)
    assert (wt / "tracked.txt").read_text() == "v1\n"
    assert sorted(p.name for p in wt.iterdir()) == [".git", ".gitignore", "tracked.txt"]
    assert git(wt, "rev-parse", "HEAD") == git(repo, "rev-parse", "HEAD")
    assert git(wt, "status", "--porcelain") == ""


def test_r_e3_a_slot_follows_the_ref_as_it_moves(repo, tmp_path):
    pool = GitWorktreePool("wt", repo, tmp_path / "wts", ref="main")
    pool.prepare(0)
    (repo / "tracked.txt").write_text("v2\n")
    git(repo, "commit", "-qam", "v2")
    pool.prepare(0)
    assert (tmp_path / "wts" / "slot-0" / "tracked.txt").read_text() == "v2\n"


def test_r_e3_a_deleted_worktree_is_made_again(repo, tmp_path):
    import shutil

    pool = GitWorktreePool("wt", repo, tmp_path / "wts")
    pool.prepare(1)
    shutil.rmtree(tmp_path / "wts" / "slot-1")
    assert (tmp_path / "wts" / "slot-1").exists() is False
    pool.prepare(1)
    assert (tmp_path / "wts" / "slot-1" / "tracked.txt").exists()


def test_r_e3_slots_made_at_once_from_many_threads_do_not_trip_over_each_other(repo, tmp_path):
    pool = GitWorktreePool("wt", repo, tmp_path / "wts")
    errors = []

    def make(slot):
        try:
            pool.prepare(slot)
        except Exception as exc:  # reported below
            errors.append((slot, exc))

    threads = [threading.Thread(target=make, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(git(repo, "worktree", "list").splitlines()) == 7


def test_a_directory_that_is_not_a_repository_is_refused_with_its_name(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(PoolPrepareError, match="not a git repository"):
        GitWorktreePool("wt", tmp_path / "plain", tmp_path / "wts")


def test_a_ref_that_does_not_exist_fails_naming_the_pool_slot_and_ref(repo, tmp_path):
    pool = GitWorktreePool("wt", repo, tmp_path / "wts", ref="no-such-branch")
    with pytest.raises(PoolPrepareError, match=r"pool wt slot 0: git rev-parse .*no-such-branch"):
        pool.prepare(0)


def test_r_e3_a_lock_left_by_a_killed_job_does_not_poison_the_slot(repo, tmp_path):
    pool = GitWorktreePool("wt", repo, tmp_path / "wts")
    wt = tmp_path / "wts" / "slot-0"
    pool.prepare(0)
    gitdir = git(wt, "rev-parse", "--absolute-git-dir")
    (tmp_path / gitdir / "index.lock").write_text("")  # a git command killed mid-way
    (wt / "tracked.txt").write_text("half-written\n")
    pool.prepare(0)
    assert (wt / "tracked.txt").read_text() == "v1\n"
