"""The openai backend: retries, timeouts and concurrency against a scripted local HTTP server,
and a real OpenAI-compatible server (`transformers serve` on the embedded model, slow)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sanitize.errors import SanitizeError
from sanitize.paraphrase.base import GenParams, Request
from sanitize.paraphrase.openai_backend import OpenAIBackend
from sanitize.prompts import load_template

PARAMS = GenParams(0.7, 0.95)
PROBE = [{"role": "user", "content": "Say OK."}]  # OpenAIBackend.probe's fixed request


def req(text="The river floods every spring.", seed=0):
    return Request(tuple(load_template("text").messages(text)), text, seed, 32)


class Scripted(BaseHTTPRequestHandler):
    """Answers POSTs with the next status of `script` (200 once it runs out); tracks load."""

    script: list = []
    delay = 0.0
    lock = threading.Lock()
    posts = 0
    in_flight = 0
    max_in_flight = 0
    bodies: list = []
    probe_fails = False

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200, {"object": "list", "data": [{"id": "scripted-model"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        if body["messages"] == PROBE and not cls.probe_fails:  # the backend's start-up check
            if body["model"] != "scripted-model":
                self._send(404, {"error": {"message": "no such model"}})
            else:
                self._send(200, {"choices": [{"message": {"role": "assistant",
                                                          "content": "OK"}}]})
            return
        with cls.lock:
            cls.posts += 1
            cls.bodies.append(body)
            status = cls.script.pop(0) if cls.script else 200
            cls.in_flight += 1
            cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
        try:
            time.sleep(cls.delay)
            if status == 200:
                text = body["messages"][-1]["content"].rsplit("\n\n", 1)[-1].upper()
                self._send(200, {"choices": [{"message": {"role": "assistant", "content": text}}],
                                 "usage": {"completion_tokens": 5}})
            else:
                self._send(status, {"error": {"message": f"scripted {status}"}},
                           {"Retry-After": "0"} if status == 429 else None)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass
        finally:
            with cls.lock:
                cls.in_flight -= 1


@pytest.fixture
def server():
    handler = type("Handler", (Scripted,), {"script": [], "delay": 0.0, "posts": 0,
                                            "probe_fails": False,
                                            "in_flight": 0, "max_in_flight": 0, "bodies": [],
                                            "lock": threading.Lock()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def backend(base, **kw):
    kw = {"concurrency": 4, "timeout": 5.0, "retries": 3, "backoff_base": 0.01, **kw}
    return OpenAIBackend(base, None, PARAMS, **kw)


def test_model_comes_from_the_server_list_and_request_carries_params(server):
    handler, base = server
    b = backend(base)
    assert b.model == "scripted-model"
    assert b.generate([req(seed=7)]) == ["THE RIVER FLOODS EVERY SPRING."]
    body = handler.bodies[0]
    assert body["model"] == "scripted-model" and body["seed"] == 7
    assert body["temperature"] == 0.7 and body["max_tokens"] == 32
    assert b.generated_tokens == 5


def test_make_backend_builds_it_from_the_config(server, monkeypatch):
    from sanitize.config import ParaphraseConfig
    from sanitize.paraphrase import make_backend

    handler, base = server
    monkeypatch.setenv("MY_KEY", "secret")
    cfg = ParaphraseConfig(backend="openai", api_base=base, api_key_env="MY_KEY", concurrency=3,
                           timeout=7.0, retries=2, temperature=0.2, top_p=0.9)
    b = make_backend(cfg)
    assert isinstance(b, OpenAIBackend) and b.model == "scripted-model"
    assert (b.api_key, b.concurrency, b.timeout, b.retries) == ("secret", 3, 7.0, 2)
    assert b.batch_size == 12 and b.params == GenParams.from_config(cfg)
    assert b.count_tokens("anything") is None
    assert b.usage() == {"backend_calls": 0, "generated_tokens": 0}
    b.generate([req(), req(seed=1)])
    assert b.usage() == {"backend_calls": 2, "generated_tokens": 10}


def test_429_and_5xx_are_retried_then_succeed(server):
    handler, base = server
    handler.script = [429, 500, 503]
    b = backend(base)
    assert b.generate([req()]) == ["THE RIVER FLOODS EVERY SPRING."]
    assert handler.posts == 4 and b.http_attempts == 6  # GET /models, the probe, 4 POSTs


def test_persistent_errors_fail_clearly_after_the_retries(server):
    handler, base = server
    handler.script = [500] * 10
    b = backend(base, retries=2)
    with pytest.raises(SanitizeError, match=r"failed after 3 attempts: HTTP 500"):
        b.generate([req()])
    assert handler.posts == 3


def test_client_errors_are_not_retried(server):
    handler, base = server
    handler.script = [400]
    with pytest.raises(SanitizeError, match="HTTP 400"):
        backend(base).generate([req()])
    assert handler.posts == 1


def test_timeouts_are_retried_then_reported(server):
    handler, base = server
    handler.delay = 1.0
    b = backend(base, timeout=0.2, retries=1)
    started = time.time()
    with pytest.raises(SanitizeError, match=r"failed after 2 attempts: timed out after 0.2s"):
        b.generate([req()])
    assert time.time() - started < 3


def test_an_endpoint_that_cannot_generate_or_lacks_the_model_stops_the_run_at_once(server):
    """Found when the backend is built, before the warm-up: a listed model that fails one
    tiny generation, and a model the server does not serve."""
    handler, base = server
    with pytest.raises(SanitizeError, match="HTTP 404.*model 'other' .it lists scripted-model"):
        OpenAIBackend(base, "other", PARAMS, retries=0)
    handler.probe_fails = True
    handler.script = [500]
    with pytest.raises(SanitizeError, match="chat/completions failed after 1 attempts: HTTP 500"):
        OpenAIBackend(base, None, PARAMS, retries=0)
    assert handler.bodies == [{"model": "scripted-model", "messages": PROBE, "max_tokens": 1,
                               "temperature": 0, "n": 1, "stream": False}]  # no record text


def test_connection_errors_are_retried_then_reported():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Found when the backend is built (it lists the models), before any expensive stage.
    with pytest.raises(SanitizeError, match="models failed after 3 attempts: connection error"):
        OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m", PARAMS, retries=2, backoff_base=0.01)


def test_concurrency_is_bounded_and_results_keep_their_order(server):
    handler, base = server
    handler.delay = 0.2
    b = backend(base, concurrency=3)
    texts = [f"text number {i}" for i in range(9)]
    seen = []
    out = b.generate([req(t) for t in texts], on_result=lambda i, t: seen.append(i))
    assert out == [t.upper() for t in texts]
    assert handler.max_in_flight == 3
    assert sorted(seen) == list(range(9))


def _serve(handler):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1"


def _handler(**attrs):
    return type("Handler", (Scripted,), {"script": [], "delay": 0.0, "posts": 0,
                                         "probe_fails": False, "in_flight": 0,
                                         "max_in_flight": 0, "bodies": [],
                                         "lock": threading.Lock(), **attrs})


def test_a_pool_spreads_requests_and_fails_over_when_an_endpoint_goes_down():
    """Two replicas: both take requests; when one starts failing for good, its requests move
    to the other and every result comes back, in order."""
    a, b = _handler(delay=0.05), _handler(delay=0.05)
    (sa, base_a), (sb, base_b) = _serve(a), _serve(b)
    try:
        pool = OpenAIBackend([base_a, base_b], None, PARAMS, concurrency=2, retries=1,
                             backoff_base=0.01)
        assert pool.batch_size == 16  # 2 endpoints x 2 in flight x 4
        texts = [f"text number {i}" for i in range(12)]
        assert pool.generate([req(t) for t in texts]) == [t.upper() for t in texts]
        assert a.posts > 0 and b.posts > 0 and a.posts + b.posts == 12
        assert max(a.max_in_flight, b.max_in_flight) <= 2  # the limit is per endpoint
        b.script = [503] * 1000  # replica b fails from now on
        more = [f"more text {i}" for i in range(8)]
        assert pool.generate([req(t) for t in more]) == [t.upper() for t in more]
        assert pool.failovers >= 1 and not pool.endpoints[1].healthy
        a.script = [503] * 1000  # and now a too: nothing left to fail over to
        with pytest.raises(SanitizeError, match="every endpoint is down"):
            pool.generate([req("last")])
    finally:
        for srv in (sa, sb):
            srv.shutdown()
            srv.server_close()


def test_every_endpoint_of_a_pool_is_checked_at_start(server):
    handler, base = server
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://user:pw@127.0.0.1:{s.getsockname()[1]}/v1"
    with pytest.raises(SanitizeError, match=r"\*\*\*@127.0.0.1:\d+/v1/models failed") as exc:
        OpenAIBackend([base, dead], None, PARAMS, retries=0)
    assert "pw" not in str(exc.value)


# -- a real OpenAI-compatible server ------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: str):
    """`transformers serve` on `folder`, on a free port, once it answers /health."""
    exe = shutil.which("transformers") or pytest.skip("the `transformers` CLI is not on PATH")
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen([exe, "serve", folder, "--port", str(port), "--device", "cpu"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc, base: str) -> None:
    deadline = time.time() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"transformers serve exited: {proc.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.time() > deadline:
            pytest.fail("transformers serve did not become ready within 180 s")
        time.sleep(1)


@pytest.fixture(scope="module")
def transformers_servers():
    """Two `transformers serve` processes on the embedded SmolLM2 folder; killed afterwards."""
    pytest.importorskip("fastapi", reason="needs transformers[serving]")
    from sanitize.models import resolve_lm_source

    folder = resolve_lm_source(None)
    procs = []
    try:
        for _ in range(2):
            procs.append(start_server(folder))
        for proc, base in procs:
            wait_ready(proc, base)
        yield [(proc, f"{base}/v1") for proc, base in procs], folder
    finally:
        for proc, _ in procs:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def transformers_server(transformers_servers):
    (servers, folder) = transformers_servers
    return servers[0][1], folder


@pytest.mark.slow
def test_real_server_paraphrases(transformers_server):
    base, folder = transformers_server
    b = OpenAIBackend(base, folder, GenParams(0.7, 0.95), concurrency=2, timeout=120, retries=1)
    texts = ["The river floods every spring when the snow melts in the mountains.",
             "Our bakery opens at seven and sells fresh bread and strong coffee."]
    out = b.generate([req(t) for t in texts])
    assert len(out) == 2 and all(isinstance(t, str) and t.strip() for t in out)
    assert b.calls == 2
    # A model the server cannot load stops the backend as it starts.
    with pytest.raises(SanitizeError, match="failed"):
        OpenAIBackend(base, "/no/such/model", GenParams(0.7, 0.95), retries=1, timeout=60)


@pytest.mark.slow
def test_a_pool_of_real_servers_survives_a_kill_and_shards_merge_to_the_same_out(
        transformers_servers, tmp_path):
    """Two real servers; one is killed while a run uses both: nothing is lost. Then the same
    scored set, rewritten in two shards on the surviving server and merged, is byte for byte
    the OUT of that run (greedy decoding, one request at a time per server)."""
    import sqlite3
    from dataclasses import replace

    from sanitize.config import (GateConfig, ParaphraseConfig, SanitizeConfig, ScoreConfig,
                                 SelectConfig)
    from sanitize.datafile import read_dataset, write_json, write_jsonl_lines
    from sanitize.merge import merge
    from sanitize.models import load_embedder, load_lm
    from sanitize.pipeline import run
    from sanitize.scoring import meta_path, score_lines, score_records, scores_meta
    from sanitize.selection import decide

    (servers, folder) = transformers_servers
    (_, base_a), (proc_b, base_b) = servers
    texts = ["The river floods every spring when the snow melts in the mountains.",
             "Our bakery opens at seven and sells fresh bread and strong coffee.",
             "The council voted to build a library next to the train station.",
             "A storm forced the fishing boats back to the northern harbour.",
             "The museum shows pottery found near the desert oasis.",
             "Volunteers planted oak trees along the highway last autumn.",
             "Engineers tested the bridge by driving heavy trucks across it at night.",
             "Our cat sleeps on the windowsill and hunts moths when night falls.",
             "The orchestra rehearsed the symphony for three weeks before opening.",
             "Students measured how quickly the salt dissolved in warm water."]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"r{i}", "text": t}) + "\n"
                           for i, t in enumerate(texts)))
    cfg = SanitizeConfig(
        input=str(src), output=str(tmp_path / "one.jsonl"),
        # Shards must agree on the selection: a loss rule (the default random draw is refused).
        score=ScoreConfig(score="loss", dedup=False), select=SelectConfig(ratio=1.0),
        paraphrase=ParaphraseConfig(backend="openai", api_base=(base_a, base_b), model=folder,
                                    temperature=0.0, candidates=1, concurrency=1, retries=1,
                                    timeout=300, max_new_tokens=48),
        gate=GateConfig(on_fail="keep"), max_drop=1.0)
    lm, embedder = load_lm(None, "cpu"), load_embedder()
    data = read_dataset(str(src))
    scores = decide(score_records(data.records, cfg.score, lm=lm, embedder=embedder),
                    cfg.select)
    scores_path = str(tmp_path / "scores.jsonl")
    write_jsonl_lines(scores_path, score_lines(scores))
    write_json(meta_path(scores_path), scores_meta(data, cfg.score))
    cfg = replace(cfg, scores_path=scores_path)

    cache = tmp_path / "one.jsonl.private-cache.sqlite"
    killed, killed_at = threading.Event(), []

    def kill_b_after_the_first_result():
        deadline = time.time() + 600
        while time.time() < deadline and not killed.is_set():
            try:
                with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as db:
                    tables = [r[0] for r in db.execute(
                        "select name from sqlite_master where type='table'")]
                    done = db.execute(f"select count(*) from {tables[0]}").fetchone()[0] \
                        if tables else 0
                    if done:
                        proc_b.kill()
                        killed_at.append((time.time(), done))
                        killed.set()
                        return
            except sqlite3.Error:
                pass
            time.sleep(0.2)

    killer = threading.Thread(target=kill_b_after_the_first_result, daemon=True)
    killer.start()
    one = run(cfg, lm=lm, embedder=embedder).manifest
    finished_at = time.time()
    killer.join(timeout=1)
    assert killed_at, "the second server was never killed"
    when, done_before = killed_at[0]
    assert when < finished_at and done_before < len(texts), "the kill came after the work"
    assert sum(one["counts"].values()) == len(texts)  # every record accounted for
    assert one["counts"]["obfuscated"] + one["counts"]["kept-original"] == len(texts)
    assert len((tmp_path / "one.jsonl").read_text().splitlines()) == len(texts)

    parts = []
    for i in range(2):
        part = str(tmp_path / f"part{i}.jsonl")
        survivor = replace(cfg.paraphrase, api_base=base_a)
        run(replace(cfg, output=part, paraphrase=survivor, shard=(i, 2)), lm=lm,
            embedder=embedder)
        parts.append(part)
    merge(str(src), str(tmp_path / "merged.jsonl"), parts, max_drop=1.0)
    assert (tmp_path / "merged.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
