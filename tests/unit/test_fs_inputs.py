"""Local input storage (R-A8): store, get, list, delete; keys never escape the root."""

import pytest

from qrun.adapters.storage.fs import FsInputStore, UnsafeKey


@pytest.fixture(name="inputs")
def _inputs(tmp_path):
    return FsInputStore(tmp_path / "inputs")


def test_r_a8_stores_gets_lists_and_deletes_a_runs_inputs(inputs):
    inputs.put("job-1", "data.csv", b"a,b\n")
    inputs.put("job-1", "config.json", b"{}")
    assert inputs.get("job-1", "data.csv") == b"a,b\n"
    assert inputs.names("job-1") == ["config.json", "data.csv"]
    inputs.delete("job-1")
    assert inputs.names("job-1") == []
    inputs.delete("job-1")  # idempotent


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b", "..", ".", "", "x\x00y", "a\\b"])
def test_r_a8_a_name_that_could_escape_is_refused(inputs, name):
    with pytest.raises(UnsafeKey, match="not allowed"):
        inputs.put("job", name, b"x")


@pytest.mark.parametrize("job_id", ["../../etc", "/abs", "..", "a/../../b", "."])
def test_r_a8_a_job_id_never_leaves_the_root(inputs, job_id):
    inputs.put(job_id, "f", b"x")
    assert inputs.dir(job_id).parent == inputs.root
    assert inputs.get(job_id, "f") == b"x"
