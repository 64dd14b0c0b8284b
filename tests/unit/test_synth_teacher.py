"""The teacher against real servers on loopback: a malformed-answer stub speaking the OpenAI
chat-completions protocol (repair and reject counts, preflight errors), and the packaged
SmolLM2 in a local llama.cpp server (plumbing, the cache, resume after SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from musicrec.synth.cache import CallCache
from musicrec.synth.client import Task, Teacher, TeacherError, TeacherSettings, open_teacher
from musicrec.synth.schemas import cluster_schema, validate_cluster
from musicrec.synth.server import LocalServer, ServerSettings, health
from musicrec.synth.weights import packaged_file

sys.path.insert(0, str(Path(__file__).parent))

SMOLLM2 = "smollm2-135m-instruct-q4_1"


# ---- a stub OpenAI-protocol server that answers from a script ------------------------
class StubServer:
    """Serves /v1/models and /v1/chat/completions; answers are popped from ``script`` in order."""

    def __init__(self, model: str = "stub-model", api_key: str | None = None):
        self.model, self.api_key, self.script, self.requests = model, api_key, [], []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self):
                if stub.api_key and self.headers.get("Authorization") != f"Bearer {stub.api_key}":
                    self._send(401, {"error": {"message": "invalid api key", "type": "authentication_error"}})
                    return False
                return True

            def do_GET(self):
                if self._authorised():
                    self._send(200, {"object": "list", "data": [{"id": stub.model, "object": "model"}]})

            def do_POST(self):
                if not self._authorised():
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(body)
                if not stub.script:
                    self._send(500, {"error": {"message": "the test's script has no answer left"}})
                    return
                content = stub.script.pop(0)
                self._send(200, {
                    "id": "x", "object": "chat.completion", "created": 0, "model": stub.model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
                })

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stub():
    server = StubServer(api_key="sesame")
    yield server
    server.close()


def _task():
    allowed = [1, 2, 3]
    return Task("cluster", [{"role": "user", "content": "cluster these"}], cluster_schema(allowed, 3, (5, 60)),
                lambda answer: validate_cluster(answer, allowed, 1, 3, (5, 60)))


def _teacher(stub, tmp_path, **settings):
    os.environ["STUB_KEY"] = "sesame"
    return open_teacher(TeacherSettings(base_url=stub.base_url, model="stub-model", api_key_env="STUB_KEY",
                                        **settings), str(tmp_path / "calls.sqlite"))


def test_invalid_answers_are_repaired_then_rejected_and_counted(stub, tmp_path):
    stub.script = ['{"cluster": [1, 2], "summary": "likes ',  # not JSON
                   '{"cluster": [2, 9], "summary": "likes calm jazz"}',  # index 9 outside, pivot 1 missing
                   '{"cluster": [1, 2], "summary": "likes calm jazz"}']  # valid after two repairs
    with _teacher(stub, tmp_path, max_repairs=2) as teacher:
        assert teacher.ask(_task()) == {"cluster": [1, 2], "summary": "likes calm jazz"}
        stats = teacher.stats
        assert (stats.calls, stats.json_invalid, stats.invalid, stats.repairs, stats.rejected) == (3, 1, 1, 2, 0)
        # The repair prompt quotes the bad answer and names its problems.
        last = stub.requests[-1]["messages"]
        assert last[-2] == {"role": "assistant", "content": '{"cluster": [2, 9], "summary": "likes calm jazz"}'}
        assert "[9]" in last[-1]["content"] and "pivot item 1" in last[-1]["content"]
        assert stub.requests[0]["response_format"]["type"] == "json_schema"
        assert stub.requests[0]["response_format"]["json_schema"]["schema"]["properties"]["cluster"]["maxItems"] == 3

        stub.script = ['{"cluster": [3], "summary": "x"}', '{"cluster": [1, 1], "summary": "likes jazz"}',
                       '{"cluster": [], "summary": "likes jazz"}']
        other = Task("cluster", [{"role": "user", "content": "another"}], _task().schema, _task().validate)
        assert teacher.ask(other) is None  # rejected after max_repairs, never kept
    assert teacher.stats.rejected == 1 and teacher.stats.calls == 6 and teacher.stats.invalid == 4


def test_a_rerun_is_answered_from_the_cache(stub, tmp_path):
    stub.script = ['{"cluster": [1], "summary": "likes calm jazz"}']
    with _teacher(stub, tmp_path) as teacher:
        first = teacher.ask(_task())
    with _teacher(stub, tmp_path) as teacher:
        assert teacher.ask(_task()) == first
        assert teacher.stats.calls == 0 and teacher.stats.cache_hits == 1
    assert len(stub.requests) == 1


def test_preflight_names_the_config_key(stub, tmp_path):
    os.environ["STUB_KEY"] = "wrong"
    with pytest.raises(TeacherError, match=r"synth\.teacher\.api_key_env: .* refused the key from \$STUB_KEY"):
        with open_teacher(TeacherSettings(base_url=stub.base_url, model="stub-model", api_key_env="STUB_KEY"),
                          str(tmp_path / "c.sqlite")):
            pass
    os.environ.pop("UNSET_KEY_VAR", None)
    with pytest.raises(TeacherError, match=r"synth\.teacher\.api_key_env: environment variable 'UNSET_KEY_VAR'"):
        with open_teacher(TeacherSettings(base_url=stub.base_url, model="stub-model", api_key_env="UNSET_KEY_VAR"),
                          str(tmp_path / "c.sqlite")):
            pass
    os.environ["STUB_KEY"] = "sesame"
    with pytest.raises(TeacherError, match=r"synth\.teacher\.model: 'gpt-x' is not served .* \['stub-model'\]"):
        with open_teacher(TeacherSettings(base_url=stub.base_url, model="gpt-x", api_key_env="STUB_KEY"),
                          str(tmp_path / "c.sqlite")):
            pass
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(TeacherError, match=rf"synth\.teacher\.base_url: no server reachable at http://127.0.0.1:{port}"):
        with open_teacher(TeacherSettings(base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=5),
                          str(tmp_path / "c.sqlite")):
            pass
    with pytest.raises(TeacherError, match=r"synth\.teacher\.model: 'nope' is no packaged model"):
        with open_teacher(TeacherSettings(model="nope"), str(tmp_path / "c.sqlite")):
            pass
    assert stub.requests == []  # no work was sent


# ---- the packaged SmolLM2 in a real local llama.cpp server ----------------------------
@pytest.fixture(scope="module")
def smollm2():
    """One local server for the module: (base_url, the LocalServer)."""
    with LocalServer(ServerSettings(str(packaged_file(SMOLLM2)), SMOLLM2, n_ctx=2048, n_threads=1)) as server:
        yield server


@pytest.fixture(scope="module")
def demo():
    from synth_data import demo_split

    return demo_split(n_users=12)


# Tiny on purpose: every call costs seconds on a shared 2-core machine.
PLUMBING = {"segment_size": 4, "max_positives": 1, "min_cluster": 1, "max_cluster": 3, "summary_max_chars": 300}
RUNNER = """
import json, sys
sys.path.insert(0, {tests!r})
from synth_data import demo_split
from musicrec.synth.client import TeacherSettings, open_teacher
from musicrec.synth.positives import PositiveSettings, synthesize_positives
from musicrec.synth.segments import track_texts, user_segments
d = demo_split(n_users=12)
texts, _ = track_texts(d["catalogue"], d["track_ids"]["track_id"])
settings = PositiveSettings(**{plumbing!r})
segments, _ = user_segments(d["train"], settings.segment_size, settings.min_plays)
with open_teacher(TeacherSettings(base_url={base_url!r}, model={model!r}, max_tokens=60, max_repairs=0),
                  {cache!r}) as teacher:
    positives, _ = synthesize_positives(teacher, texts, segments[:{n_users}], settings)
positives.to_json({out!r}, orient="records")
"""


def _run_positives(base_url, cache, out, n_users):
    code = RUNNER.format(tests=str(Path(__file__).parent), plumbing=PLUMBING, base_url=base_url, model=SMOLLM2,
                         cache=str(cache), out=str(out), n_users=n_users)
    return subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ), stderr=subprocess.PIPE, text=True)


def test_local_server_is_healthy_and_stops(tmp_path):
    with LocalServer(ServerSettings(str(packaged_file(SMOLLM2)), SMOLLM2, n_ctx=512, n_threads=1)) as server:
        url = server.base_url
        assert url.startswith("http://127.0.0.1:") and health(url) == 200
    assert health(url) is None  # stopped on exit, the port is free again


def test_plumbing_cache_and_resume_after_sigkill(smollm2, demo, tmp_path):
    from musicrec.synth.negatives import NegativeSettings, synthesize_negatives

    n_users = 2
    reference = _run_positives(smollm2.base_url, tmp_path / "reference.sqlite", tmp_path / "reference.json", n_users)
    assert reference.wait(timeout=600) == 0, reference.stderr.read()
    expected = pd.read_json(tmp_path / "reference.json", orient="records")

    # Kill a run once its first answer is stored, then rerun it on the same cache.
    cache = tmp_path / "calls.sqlite"
    killed = _run_positives(smollm2.base_url, cache, tmp_path / "killed.json", n_users)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and killed.poll() is None:
        if cache.exists() and len(CallCache(cache)) >= 1:
            break
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    stored = len(CallCache(cache))
    assert 1 <= stored < n_users and not (tmp_path / "killed.json").exists()
    resumed = _run_positives(smollm2.base_url, cache, tmp_path / "resumed.json", n_users)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert len(CallCache(cache)) == n_users  # the stored call was not made again
    pd.testing.assert_frame_equal(pd.read_json(tmp_path / "resumed.json", orient="records"), expected)

    # Phase 2 on the resumed positives; then a full rerun makes zero calls.
    positives = pd.read_json(tmp_path / "resumed.json", orient="records")
    assert len(positives) >= 1 and positives["pos_summary"].str.len().gt(0).all()
    settings = TeacherSettings(base_url=smollm2.base_url, model=SMOLLM2, max_tokens=30, max_repairs=0)
    negatives = NegativeSettings(n_candidates=2, on_reject="random")
    with open_teacher(settings, str(cache)) as teacher:
        first, report = synthesize_negatives(teacher, positives, positives, negatives, seed=0)
        made = teacher.stats.calls
    with open_teacher(settings, str(cache)) as teacher:
        again, _ = synthesize_negatives(teacher, positives, positives, negatives, seed=0)
        assert teacher.stats.calls == 0 and teacher.stats.cache_hits >= made
    pd.testing.assert_frame_equal(first, again)
    assert report["triplets"] == len(first) and (first["neg_summary"] != first["pos_summary"]).all()
    for row in first.itertuples():
        assert row.neg_summary not in set(positives.loc[positives["user_id"] == row.user_id, "pos_summary"])
