"""The openai runner against local servers that fail on purpose: 500s, 429s, hangs past the timeout, dropped
connections, dead replicas. Every request must be answered exactly once, in order, with its retries counted."""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jamba_eval.config import ModelConfig
from jamba_eval.errors import UserError
from jamba_eval.runners.base import GenerationRequest, LoglikelihoodRequest, load_runner
from jamba_eval.runners.openai_runner import OpenAIRunner, parse_base_urls

FAST = dict(timeout=0.5, backoff=0.01, max_backoff=0.05)


class FaultServer:
    """A tiny `/v1/completions` whose answer is the prompt reversed; `plan[prompt]` lists the faults of the first
    attempts at that prompt ("500", "429", "hang", "drop"), after which it answers."""

    def __init__(self, plan: dict[str, list[str]] | None = None, always: str | None = None, hang_s: float = 1.5):
        self.plan = plan or {}
        self.always = always
        self.hang_s = hang_s
        self.attempts: collections.Counter[str] = collections.Counter()
        self.answered: collections.Counter[str] = collections.Counter()
        self.auth: list[str | None] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                prompt = body.get("prompt")
                with server.lock:
                    server.auth.append(self.headers.get("authorization"))
                    attempt = server.attempts[str(prompt)]
                    server.attempts[str(prompt)] += 1
                faults = server.plan.get(str(prompt), [])
                fault = server.always or (faults[attempt] if attempt < len(faults) else None)
                if body.get("echo"):
                    return self.reply(400, {"error": {"message": "echo is not supported"}})
                if fault == "500":
                    return self.reply(500, {"error": {"message": "internal error"}})
                if fault == "503":
                    return self.reply(503, {"error": {"message": "overloaded"}})
                if fault == "429":
                    return self.reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
                if fault == "hang":
                    time.sleep(server.hang_s)
                    return  # close without a response, long after the client gave up
                if fault == "drop":
                    return  # close the connection without a response
                with server.lock:
                    server.answered[str(prompt)] += 1
                choice = {"index": 0, "text": str(prompt)[::-1], "finish_reason": "length"}
                self.reply(200, {"choices": [choice], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})

            def reply(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


FAULTS = ["500", "429", "hang", "drop"]


def test_faults_are_retried_and_every_request_answered_once():
    prompts = [f"prompt number {i}" for i in range(30)]
    plan = {p: [FAULTS[i % 4]] * (i % 3) for i, p in enumerate(prompts)}  # 0, 1 or 2 faults before the answer
    plan[prompts[1]] = ["drop", "500", "hang"]
    with FaultServer(plan) as server, OpenAIRunner("m", base_url=server.url, num_concurrent=6, **FAST) as runner:
        completions = runner.generate([GenerationRequest(p, max_new_tokens=4) for p in prompts])
        assert [c.text for c in completions] == [p[::-1] for p in prompts]  # in order, each its own answer
        assert server.answered == collections.Counter(prompts)  # exactly one answer per request
        assert [c.retries for c in completions] == [len(plan[p]) for p in prompts]
        assert all(server.attempts[p] == len(plan[p]) + 1 for p in prompts)
        assert runner.describe()["retries"] == sum(len(f) for f in plan.values())
        assert completions[0].prompt_tokens == 3 and completions[0].completion_tokens == 4


def test_a_failing_replica_is_retried_elsewhere(unused_port):
    prompts = [f"question {i}" for i in range(20)]
    dead = f"http://127.0.0.1:{unused_port}/v1"
    with FaultServer(always="503") as sick, FaultServer() as healthy:
        urls = f"{dead}|{sick.url}|{healthy.url}"
        with OpenAIRunner("m", base_url=urls, num_concurrent=4, max_retries=4, **FAST) as runner:
            completions = runner.generate([GenerationRequest(p, max_new_tokens=4) for p in prompts])
            replicas = {r["base_url"]: r for r in runner.describe()["replicas"]}
        assert [c.text for c in completions] == [p[::-1] for p in prompts]
        assert healthy.answered == collections.Counter(prompts)
        assert sum(c.retries for c in completions) == replicas[dead]["failed"] + replicas[sick.url]["failed"] > 0
        assert replicas[healthy.url]["served"] == len(prompts)


def test_requests_are_sharded_across_healthy_replicas():
    prompts = [f"shard {i}" for i in range(40)]
    with FaultServer() as a, FaultServer() as b:
        with OpenAIRunner("m", base_url=[a.url, b.url], num_concurrent=4, **FAST) as runner:
            completions = runner.generate([GenerationRequest(p) for p in prompts])
        assert [c.text for c in completions] == [p[::-1] for p in prompts]
        assert a.answered + b.answered == collections.Counter(prompts)
        assert sum(a.answered.values()) >= 5 and sum(b.answered.values()) >= 5


def test_an_unreachable_url_is_one_clear_error_line(unused_port):
    url = f"http://127.0.0.1:{unused_port}/v1"
    runner = OpenAIRunner("m", base_url=url, max_retries=2, **FAST)
    started = time.monotonic()
    with pytest.raises(UserError) as info:
        runner.generate([GenerationRequest(f"p{i}") for i in range(10)])
    message = str(info.value)
    assert "\n" not in message and url in message and "ConnectError" in message and "3 attempts" in message
    assert time.monotonic() - started < 10


def test_a_server_without_echo_logprobs_gets_a_clear_error(bpe_tokenizer_dir):
    with FaultServer() as server, OpenAIRunner("m", base_url=server.url, tokenizer=str(bpe_tokenizer_dir)) as runner:
        with pytest.raises(UserError, match="echo") as info:
            runner.loglikelihood([LoglikelihoodRequest("a", " b")])
        assert "\n" not in str(info.value)
        assert runner.describe()["retries"] == 0  # a 400 is not retried


def test_the_api_key_is_sent_but_never_recorded(monkeypatch, caplog):
    secret = "sk-test-5e3c0b1d-never-log-me"
    monkeypatch.setenv("JAMBA_EVAL_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="jamba_eval")
    plan = {"p0": ["500"]}  # a retry, so retry logging runs too
    with FaultServer(plan) as server:
        config = ModelConfig("openai", "m", {"base_url": server.url, "api_key_env": "JAMBA_EVAL_TEST_KEY", **FAST})
        with load_runner(config) as runner:
            completions = runner.generate([GenerationRequest("p0")])
            described = json.dumps(runner.describe())
            shown = repr(runner)
        assert server.auth == [f"Bearer {secret}"] * 2
    assert secret not in described and secret not in shown and "JAMBA_EVAL_TEST_KEY" in described
    assert secret not in json.dumps([c.__dict__ for c in completions])
    assert secret not in caplog.text and "retrying" in caplog.text
    with pytest.raises(UserError, match="api_key_env"):
        OpenAIRunner("m", api_key=secret)


def test_base_url_syntax():
    assert parse_base_urls("http://a:1/v1/|https://b/v1/completions") == ["http://a:1/v1", "https://b/v1"]
    assert parse_base_urls(["http://x/v1"]) == ["http://x/v1"]
    # tasks pass --batch-size to every runner; here it is accepted (concurrency is num_concurrent)
    assert load_runner(ModelConfig("openai", "m", {"base_url": "http://x/v1|http://y/v1"}), batch_size=4).base_urls
    with pytest.raises(UserError, match="http"):
        parse_base_urls("a:1/v1")
