"""GET /chatkit/helper.js, run under node with a stub fetch and a real gateway.

The served bytes are written to a ``.mjs`` file and imported by a driver
(tests/js/helper_driver.mjs) that prints what happened as JSON.
"""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.ids import new_id
from testkit.tokens import jwt_for

from .flows import create_body, turn
from .worker_double import WorkerDouble

NODE = shutil.which("node")
DRIVER = Path(__file__).parent / "js" / "helper_driver.mjs"
needs_node = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the browser helper cannot run"
)


async def _served_helper(http: httpx.AsyncClient, folder: Path) -> Path:
    response = await http.get("/chatkit/helper.js")  # no bearer needed
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    path = folder / "helper.mjs"
    path.write_bytes(response.content)
    return path


def _drive(*args: str) -> Any:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(DRIVER), *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_node
async def test_helper_fetch_adds_the_token_and_cancels_only_streams_stopped_midway(
    bare_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    results = _drive(str(await _served_helper(bare_http, tmp_path)), "stub")
    stop = results["stop"]
    assert stop["runHeader"] == "run_1"
    assert [(c["method"], c["url"], c["auth"]) for c in stop["calls"]] == [
        ("POST", "http://gw/chatkit", "Bearer tok-1"),
        ("POST", "http://gw/chatkit/runs/run_1/cancel", "Bearer tok-1"),
    ]
    # threads.create: no id in the body, no run header: the thread from the header.
    assert [c["url"] for c in results["stopCreate"]["calls"]][-1] == (
        "http://gw/chatkit/threads/thr_new/cancel"
    )
    assert [c["url"] for c in results["finished"]] == ["/chatkit"]
    early = results["early"]
    assert early["error"] == "AbortError"
    assert [c["url"] for c in early["calls"]] == [
        "/chatkit",
        "/chatkit/threads/thr_3/cancel",
    ]
    [listed] = results["nonStreaming"]
    assert (listed["url"], listed["auth"]) == ("/chatkit", "Bearer tok-1")


@needs_node
async def test_resume_after_reload_polls_while_active_and_refreshes_each_time(
    bare_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    results = _drive(str(await _served_helper(bare_http, tmp_path)), "stub")
    resume = results["resume"]
    assert resume["run"]["status"] == "completed"
    polls = resume["calls"]
    assert {(c["url"], c["auth"]) for c in polls} == {
        ("http://gw/chatkit/threads/thr_9/run", "Bearer tok-1")
    }
    assert len(polls) == 5
    # Once per active answer (queued, running, running), once at the end.
    assert resume["updates"] == 4
    assert results["resumeNone"] == {"run": None, "updates": 0, "calls": [
        {"url": "http://gw/chatkit/threads/thr_9/run", "method": "GET",
         "auth": "Bearer tok-1", "body": None}
    ]}  # fmt: skip


@needs_node
async def test_stop_in_the_helper_cancels_the_run_on_a_real_gateway(
    http: httpx.AsyncClient, worker: WorkerDouble, gateway_url: str, tmp_path: Path
) -> None:
    user = new_id("req")
    thread_id = (await turn(http, worker, user, create_body("first"))).job.thread_id
    helper = await _served_helper(http, tmp_path)
    results = _drive(str(helper), "live", gateway_url, jwt_for(user), thread_id)
    assert results["status"] == 200
    run = await worker.history.get_run(user, results["runId"])
    assert (run.status, run.cancel_requested) == ("queued", True)
    _, job = await worker.job_for(thread_id)  # nobody runs it: finish it here
    await worker.run(job, [], "cancelled")
