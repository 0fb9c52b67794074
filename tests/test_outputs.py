"""Output paths: symlinks and devices are written through, nothing that is not a regular file is replaced,
no setuid bit is copied, folders are not created silently, killed writers' temporaries are removed."""
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lava_ternary.io_utils import OutputPathError, atomic_path, check_writable, remove_stale_temporaries, \
    write_json


def test_a_symlink_is_written_through(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert check_writable(link) == target
    write_json(link, {"a": 1})
    assert link.is_symlink() and json.loads(target.read_text()) == {"a": 1}
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "new.json")
    write_json(dangling, [1])
    assert dangling.is_symlink() and json.loads((tmp_path / "new.json").read_text()) == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.json", "link.json", "new.json", "real.json"]


def test_a_character_device_is_written_through_never_replaced():
    before = os.stat("/dev/null")
    assert check_writable("/dev/null") == Path("/dev/null")
    write_json("/dev/null", {"discarded": True})
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_a_fifo_is_written_through_when_read_and_refused_without_reader(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputPathError, match="FIFO with no reader"):
        write_json(fifo, [1])  # no reader: an error, not a hang
    got = []
    reader_open = threading.Event()

    def read():
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        reader_open.set()
        data, deadline = b"", time.time() + 10
        while not data.endswith(b"\n") and time.time() < deadline:  # EOF until the writer has opened it
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = b""
            if not chunk:
                time.sleep(0.01)
            data += chunk
        os.close(fd)
        got.append(data)
    thread = threading.Thread(target=read)
    thread.start()
    reader_open.wait(10)
    write_json(fifo, {"b": 2})
    thread.join(10)
    assert json.loads(got[0]) == {"b": 2} and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_directories_and_sockets_are_refused(tmp_path):
    sock_path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        for path, problem in ((tmp_path, "is a directory, not a file"),
                              (sock_path, "is a socket; refusing to write to it")):
            for call in (check_writable, lambda p: write_json(p, 1)):
                with pytest.raises(OutputPathError) as err:
                    call(path)
                assert str(err.value) == f"output {str(path)!r}: {problem}"
        assert stat.S_ISSOCK(os.stat(sock_path).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sock"]


def test_setuid_and_setgid_bits_are_not_copied(tmp_path):
    target = tmp_path / "tool"
    target.write_text("old")
    os.chmod(target, 0o6755)
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and stat.S_IMODE(os.stat(target).st_mode) == 0o755


def test_missing_folders_are_an_error_unless_asked_for(tmp_path):
    nested = tmp_path / "a" / "b" / "out.json"
    with pytest.raises(OutputPathError, match=r"folder '.*/a/b' does not exist \(create it first\)$"):
        check_writable(nested)
    with pytest.raises(OutputPathError, match="does not exist"):
        write_json(nested, 1)
    assert not (tmp_path / "a").exists()
    assert check_writable(nested, create_parents=True) == nested and nested.parent.is_dir()
    (tmp_path / "file").write_text("x")
    for create in (False, True):
        with pytest.raises(OutputPathError, match="/file' is a file, not a directory$"):
            check_writable(tmp_path / "file" / "out.json", create_parents=create)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder_is_refused_before_work_starts(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputPathError, match="no permission"):
            check_writable(folder / "out.json")
    finally:
        folder.chmod(0o755)


def test_temporaries_of_killed_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".model.net.{dead_pid}-k1ll3d.tmp"
    stale.write_bytes(b"half a file")
    live = tmp_path / f".model.net.{os.getppid()}-wr1t1ng.tmp"  # a writer that is still running
    live.write_bytes(b"in progress")
    other = tmp_path / f".result.json.{dead_pid}-abc.tmp"
    other.write_text("{")
    with atomic_path(tmp_path / "model.net") as tmp:
        tmp.write_bytes(b"net")
    assert not stale.exists() and live.exists() and other.exists()  # the next write of the same target
    assert remove_stale_temporaries(tmp_path) == [other]  # the whole folder (training.train at start)
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "model.net"]
