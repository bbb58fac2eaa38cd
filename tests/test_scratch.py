"""Temporary folders on a TMPDIR that cluster nodes share: each node removes only its own stale folders."""
import os
import subprocess
import sys
import tempfile

import pytest

from grader import scratch


@pytest.fixture
def shared_tmp(tmp_path, monkeypatch):
    """TMPDIR as a filesystem that other nodes write to as well."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def ended_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_folder_is_named_after_its_node_and_process(shared_tmp):
    with scratch.scratch_folder("task") as folder:
        assert os.path.basename(folder).startswith(f"grader-task-{scratch.node()}-{os.getpid()}-")
        assert os.path.dirname(folder) == str(shared_tmp)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="remove_stale does nothing on Windows")
def test_a_node_removes_only_its_own_stale_folders(shared_tmp):
    here, dead = scratch.node(), ended_pid()
    kept = {f"grader-task-{here}-{os.getpid()}-live1234",  # a live process of this node
            f"grader-task-other-node-{dead}-abcd1234",  # another node's: its pid means nothing here
            f"grader-zygote-{here}-2-{dead}-abcd1234",  # a node whose name starts with this one's
            f"grader-worker-{dead}-abcd1234"}  # a name without a node: whose it is cannot be told
    for name in kept | {f"grader-worker-{here}-{dead}-abcd1234", f"grader-zygote-{here}-{dead}-x_9"}:
        (shared_tmp / name).mkdir()
        (shared_tmp / name / "file").write_text("work")
    assert scratch.remove_stale() == 2
    assert {p.name for p in shared_tmp.iterdir()} == kept
