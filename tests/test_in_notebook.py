"""check() in a real Jupyter kernel, which keeps its workers between checks: each check reads the definitions as
they are now, and what the kernel keeps ends with it, when it dies or restarts."""
import os
import time

import pytest

from conftest import ROOT, solution_source
from process_tree import running

jupyter_client = pytest.importorskip("jupyter_client", reason="jupyter_client comes with the nbgrader extra")

WRONG_SCORES = '''
def attention_scores(inputs):
    return inputs.transpose(-2, -1) @ inputs  # the feature dimensions' products, not the tokens'
'''
RIGHT_SCORES = '''
def attention_scores(inputs):
    return inputs @ inputs.transpose(-2, -1)
'''
KEPT_PID = "import grader.in_notebook as n\nprint(n._workers.zygote.process.pid if n._workers.zygote else " \
           "(n._workers.previous or n._workers.standby).process.pid)"


def shown(client, code: str) -> str:
    """What the cell shows (its printed text and displays), failing on an error."""
    parts = []

    def collect(message):
        content = message["content"]
        if message["msg_type"] == "stream":
            parts.append(content["text"])
        elif message["msg_type"] in ("display_data", "execute_result"):
            parts.append(content["data"]["text/plain"])
        elif message["msg_type"] == "error":
            parts.append("\n".join(content["traceback"]))

    reply = client.execute_interactive(code, output_hook=collect, timeout=300)
    assert reply["content"]["status"] == "ok", "".join(parts)
    return "".join(parts)


def ended(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while running({pid}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not running({pid})


@pytest.mark.parametrize("isolation", [None, "portable"])
def test_each_check_reads_the_definitions_again_and_what_is_kept_ends_with_the_kernel(tmp_path, isolation):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GRADER_ISOLATION", None)
    if isolation:
        env["GRADER_ISOLATION"] = isolation
    manager, client = jupyter_client.manager.start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        shown(client, solution_source())
        assert "self-check attention_scores: 6/6 (passed)" in shown(
            client, "from grader.in_notebook import check\ncheck('attention_scores')")
        first_kept = int(shown(client, KEPT_PID))
        shown(client, WRONG_SCORES)
        assert "self-check attention_scores: 0/6" in shown(client, "check('attention_scores')")
        shown(client, RIGHT_SCORES)
        assert "self-check attention_scores: 6/6 (passed)" in shown(client, "check('attention_scores')")
        assert int(shown(client, KEPT_PID)) == first_kept  # the zygote, or (portable) the worker that served

        manager.restart_kernel(now=True)
        client.wait_for_ready(timeout=60)
        assert ended(first_kept)
        shown(client, solution_source())
        assert "self-check causal_mask: 12/12 (passed)" in shown(
            client, "from grader.in_notebook import check\ncheck('causal_mask')")
        second_kept = int(shown(client, KEPT_PID))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert ended(second_kept)
