"""R-A7: a container's output is extracted with no path escaping the archive root."""

import io
import tarfile

import pytest

from qrun.adapters.docker.archive import UnsafeArchive, extract


def tar_of(*members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    return [raw[i : i + 100] for i in range(0, len(raw), 100)]  # as the engine streams it


def file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name, kind, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info, None


def test_plain_files_and_folders_are_extracted_under_the_root(tmp_path):
    folder = tarfile.TarInfo("out/sub")
    folder.type = tarfile.DIRTYPE
    got = extract(
        tar_of(file("out/result.json", b"{}"), (folder, None), file("out/sub/a.txt")),
        tmp_path / "o",
        strip="out",
    )
    assert sorted(got) == ["result.json", "sub/a.txt"]
    assert (tmp_path / "o" / "result.json").read_bytes() == b"{}"


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (file("/etc/evil"), "absolute path"),
        (file("out/../../evil"), "'..' component"),
        (special("out/link", tarfile.SYMTYPE, "/etc/passwd"), "symlink"),
        (special("out/hard", tarfile.LNKTYPE, "/etc/passwd"), "hard link"),
        (special("out/dev", tarfile.CHRTYPE), "device or fifo"),
        (special("out/fifo", tarfile.FIFOTYPE), "device or fifo"),
    ],
)
def test_each_kind_of_escape_is_refused_and_nothing_is_left(tmp_path, member, why):
    with pytest.raises(UnsafeArchive, match=why):
        extract(tar_of(file("out/ok.txt"), member), tmp_path / "o", strip="out")
    assert list(tmp_path.iterdir()) == []  # no partial extraction left behind
    assert not (tmp_path.parent / "evil").exists()


def test_output_over_the_size_cap_is_refused(tmp_path):
    with pytest.raises(UnsafeArchive, match="larger than the cap of 10 bytes"):
        extract(
            tar_of(file("out/a", b"123456"), file("out/b", b"123456")),
            tmp_path / "o",
            strip="out",
            max_bytes=10,
        )
