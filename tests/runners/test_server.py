"""`jamba-eval serve`: concurrent load against a real server process, bad requests, and the batching worker."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from jamba_eval.runners.base import GenerationRequest
from jamba_eval.runners.batcher import BatchWorker
from jamba_eval.runners.mock import MockRunner

PROMPTS = [
    "The President said",
    "Congress shall",
    "We the people of the United States",
    "In the year of our Lord",
    "Four score and seven years ago",
    "The state of the Union is strong",
    "Ladies and gentlemen",
    "Our nation",
]


def check_completion(body: dict, chat: bool = False) -> str:
    """Schema of an OpenAI completion; returns the text."""
    assert body["object"] == ("chat.completion" if chat else "text_completion")
    assert body["id"] and isinstance(body["created"], int) and body["model"] == "tiny-llama"
    [choice] = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] and usage["prompt_tokens"] > 0
    text = choice["message"]["content"] if chat else choice["text"]
    assert isinstance(text, str)
    return text


def test_32_concurrent_clients_of_8_requests(llama_server, torch_llama):
    expected = {
        "text": [c.text for c in torch_llama.generate([GenerationRequest(p, max_new_tokens=6) for p in PROMPTS])],
        "chat": [
            c.text
            for c in torch_llama.generate(
                [GenerationRequest([{"role": "user", "content": p}], max_new_tokens=5) for p in PROMPTS]
            )
        ],
    }
    ids = [torch_llama.tokenizer.encode(p, add_special_tokens=True) for p in PROMPTS]
    base = llama_server.removesuffix("/v1")
    before = httpx.get(base + "/health").json()

    async def client(j: int, http: httpx.AsyncClient) -> int:
        for k in range(8):
            n = (j + k) % len(PROMPTS)
            kind = k % 4
            if kind == 0:
                body = {"model": "tiny-llama", "prompt": PROMPTS[n], "max_tokens": 6, "temperature": 0}
                response = await http.post("/v1/completions", json=body)
                assert response.status_code == 200, response.text
                assert check_completion(response.json()) == expected["text"][n]
            elif kind == 1:
                body = {"model": "tiny-llama", "prompt": ids[n], "max_tokens": 6, "temperature": 0}
                response = await http.post("/v1/completions", json=body)
                assert response.status_code == 200, response.text
                assert check_completion(response.json()) == expected["text"][n]
            elif kind == 2:
                messages = [{"role": "user", "content": PROMPTS[n]}]
                body = {"model": "tiny-llama", "messages": messages, "max_tokens": 5, "temperature": 0}
                response = await http.post("/v1/chat/completions", json=body)
                assert response.status_code == 200, response.text
                assert check_completion(response.json(), chat=True) == expected["chat"][n]
            else:
                body = {"prompt": PROMPTS[n], "max_tokens": 1, "temperature": 0, "echo": True, "logprobs": 1}
                response = await http.post("/v1/completions", json=body)
                assert response.status_code == 200, response.text
                check_completion(response.json())
                logprobs = response.json()["choices"][0]["logprobs"]
                assert len(logprobs["token_logprobs"]) == len(ids[n]) + 1 and logprobs["token_logprobs"][0] is None
                assert all(lp <= 0 for lp in logprobs["token_logprobs"][1:])
        return 8

    async def main() -> int:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
            return sum(await asyncio.gather(*(client(j, http) for j in range(32))))

    assert asyncio.run(main()) == 256
    after = httpx.get(base + "/health").json()
    jobs = after["requests"] - before["requests"]
    batches = after["batches"] - before["batches"]
    assert jobs == 256 + 64  # echo requests make a generation and a scoring job
    assert batches < jobs / 2 and after["largest_batch"] > 1  # requests were gathered into batches
    assert after["failed_batches"] == before["failed_batches"]


BAD_REQUESTS = [
    ("/v1/completions", b'{"prompt": "hi", "max_tokens": ', 400, "not valid JSON"),
    ("/v1/completions", b'["a list"]', 400, ""),
    ("/v1/completions", {"max_tokens": 3}, 400, "prompt"),
    ("/v1/completions", {"prompt": 5}, 400, "prompt"),
    ("/v1/completions", {"prompt": []}, 400, "empty"),
    ("/v1/completions", {"prompt": "hi", "max_tokens": -1}, 400, "max_tokens"),
    ("/v1/completions", {"prompt": "hi", "temperature": -0.5}, 400, "temperature"),
    ("/v1/completions", {"prompt": "hi", "n": 2}, 400, "n=1"),
    ("/v1/completions", {"prompt": "hi", "stream": True}, 400, "stream"),
    ("/v1/completions", {"prompt": "hi", "logprobs": 5}, 400, "logprobs"),
    ("/v1/completions", {"prompt": [1, 2, 99999]}, 400, "token ids"),
    ("/v1/completions", {"prompt": "word " * 3000, "max_tokens": 4}, 400, "maximum context length"),
    ("/v1/completions", {"prompt": "hi", "max_tokens": 10**6}, 400, "maximum context length"),
    ("/v1/completions", {"model": "gpt-17", "prompt": "hi"}, 404, "does not exist"),
    ("/v1/chat/completions", {"messages": []}, 400, "messages"),
    ("/v1/chat/completions", {"messages": [{"content": "hi"}]}, 400, "role"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400, "text"),
    ("/v1/no-such-endpoint", {"prompt": "hi"}, 404, ""),
]


@pytest.mark.parametrize(("path", "body", "status", "message"), BAD_REQUESTS)
def test_bad_requests_get_4xx_json(llama_server, path, body, status, message):
    base = llama_server.removesuffix("/v1")
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(base + path, content=content, headers={"content-type": "application/json"}, timeout=60)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error["message"]
    ok = httpx.post(base + "/v1/completions", json={"prompt": "still alive", "max_tokens": 2}, timeout=60)
    assert ok.status_code == 200  # the server survives


def test_models_and_health(llama_server, torch_llama):
    models = httpx.get(llama_server + "/models").json()
    assert models["object"] == "list"
    assert [(m["id"], m["max_model_len"]) for m in models["data"]] == [("tiny-llama", torch_llama.max_length)]
    assert httpx.get(llama_server.removesuffix("/v1") + "/health").json()["status"] == "ok"


def test_in_process_app_limits_and_unsupported_features():
    from fastapi.testclient import TestClient

    from jamba_eval.runners.server import create_app

    app = create_app(MockRunner("an answer"), "mock", max_batch_size=4, max_request_bytes=1000)
    with TestClient(app) as client:
        assert client.post("/v1/completions", json={"prompt": "x" * 2000}).status_code == 413
        ok = client.post("/v1/completions", json={"prompt": ["a", "b"], "max_tokens": 3, "echo": True})
        assert [c["text"] for c in ok.json()["choices"]] == ["aan ", "ban "]
        no_logprobs = client.post("/v1/completions", json={"prompt": "a", "max_tokens": 0, "echo": True, "logprobs": 1})
        assert no_logprobs.status_code == 400 and "not supported" in no_logprobs.json()["error"]["message"]


def test_batch_worker_gathers_requests_and_isolates_a_failure():
    calls = []

    def handler(items):
        calls.append(list(items))
        if "bad" in items:
            raise ValueError("cannot do bad")
        return [item.upper() for item in items]

    async def main():
        worker = BatchWorker({"generate": handler}, max_batch_size=3)
        futures = [worker.submit("generate", item) for item in ["a", "bad", "c", "d", "e"]]
        worker.start()  # started after queueing, so the first batch holds three jobs
        results = await asyncio.gather(*futures, return_exceptions=True)
        worker.stop()
        return results, worker.stats

    results, stats = asyncio.run(main())
    assert results[0] == "A" and isinstance(results[1], ValueError) and results[2:] == ["C", "D", "E"]
    assert calls[0] == ["a", "bad", "c"] and ["a"] in calls and ["c"] in calls  # the failed batch is split up
    assert stats["largest_batch"] == 3 and stats["failed_batches"] == 1
