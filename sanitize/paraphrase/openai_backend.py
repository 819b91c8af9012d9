"""Any OpenAI-compatible chat endpoint, or a pool of them: `vllm serve`, `transformers serve`,
hosted APIs.

Plain httpx (the openai SDK's own transport) with our own retry loop, so the policy is explicit
and tested: bounded concurrency per endpoint (an asyncio.Semaphore each), a per-request timeout,
and retries with exponential backoff plus jitter on 429, 5xx, timeouts and connection errors,
honouring a `Retry-After` header. Other 4xx (bad model name, bad key) fail at once: retrying
cannot fix them. With several endpoints (repeat --api-base: replicas of one model) each request
goes to the healthy endpoint with the fewest requests in hand; an endpoint that still fails
after its retries is marked down and its requests move to the others (failover). The run stops
with one clear error only when no endpoint is left; finished requests are already cached.

Records go only where the user points: there is no default endpoint (a hosted API would be a
third party the user never named). Every endpoint is checked when the backend is built, before
any expensive stage: it lists its models, serves the one asked for, and answers a one-token test
request. Credentials in a URL are sent as basic auth and never printed or recorded (redact.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError, SanitizeError
from ..redact import redact_url, split_credentials
from .base import GenParams, OnResult, Request

if TYPE_CHECKING:
    from ..config import ParaphraseConfig

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
BACKOFF_BASE = 0.5  # seconds; attempt n waits BACKOFF_BASE * 2**n (+ jitter), capped
BACKOFF_CAP = 20.0
PROBE = [{"role": "user", "content": "Say OK."}]  # the start-up test request: no record text


class BackendError(SanitizeError):
    """The endpoint kept failing after all retries, or refused the request outright."""


class EndpointDown(BackendError):
    """An endpoint still failed (timeouts, connection errors, 5xx) after all its retries."""


@dataclass(eq=False)
class Endpoint:
    base: str  # the URL without credentials: what the HTTP client sees
    shown: str  # the redacted URL: what messages show
    auth: tuple[str, str] | None
    healthy: bool = True
    load: int = 0  # requests assigned and not finished
    sem: asyncio.Semaphore | None = None  # per run (bound to its event loop)


def endpoint_list(api_base) -> list[str]:
    """--api-base values (one URL, or several) else OPENAI_BASE_URL."""
    given = [api_base] if isinstance(api_base, str) else list(api_base or [])
    if not given and os.environ.get("OPENAI_BASE_URL"):
        given = [os.environ["OPENAI_BASE_URL"]]
    return [g.rstrip("/") for g in given if g]


class OpenAIBackend:
    name = "openai"

    def __init__(self, api_base, model: str | None, params: GenParams,
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8,
                 timeout: float = 120.0, retries: int = 4, backoff_base: float = BACKOFF_BASE):
        import httpx  # noqa: F401  (fail here, clearly, if it is missing)

        urls = endpoint_list(api_base)
        if not urls:
            raise InputError("--paraphraser openai needs --api-base URL (or OPENAI_BASE_URL): "
                             "records are sent only to an endpoint you name")
        self.endpoints = []
        for url in urls:
            base, auth = split_credentials(url)
            self.endpoints.append(Endpoint(base, redact_url(url), auth))
        self.api_key = os.environ.get(api_key_env, "")
        self.params = params
        self.concurrency = max(1, concurrency)  # per endpoint
        self.batch_size = self.concurrency * 4 * len(self.endpoints)
        self.timeout = timeout
        self.retries = retries
        self.backoff_base = backoff_base
        self.calls = 0  # completed requests
        self.http_attempts = 0  # every HTTP attempt, retries included
        self.generated_tokens = 0
        self.failovers = 0  # requests moved to another endpoint
        # Prove, before any warm-up, that every endpoint answers, serves the model and
        # generates.
        lists = [self.list_models(e) for e in self.endpoints]
        self.served = lists[0]
        if not model and not self.served:
            raise InputError(f"{self.endpoints[0].shown}/models lists no model; pass "
                             "--paraphrase-model")
        self.model = model or self.served[0]
        for e, served in zip(self.endpoints, lists):
            # Not checked against the list: some servers (transformers serve) load any model
            # on demand. The test request is what proves the model is served.
            try:
                self.probe(e)
            except BackendError as exc:
                listed = f" (it lists {', '.join(served[:5])})" if served else ""
                raise BackendError(f"{exc}; model {self.model!r}{listed}") from None

    @classmethod
    def from_config(cls, cfg: ParaphraseConfig, lm=None) -> OpenAIBackend:
        """Builds and so checks every endpoint (see the module docstring)."""
        return cls(cfg.api_base, cfg.model, GenParams.from_config(cfg),
                   api_key_env=cfg.api_key_env, concurrency=cfg.concurrency,
                   timeout=cfg.timeout, retries=cfg.retries)

    def count_tokens(self, text: str) -> int | None:
        return None  # the tokenizer is the server's

    def usage(self) -> dict:
        return {"backend_calls": self.calls, "generated_tokens": self.generated_tokens}

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def list_models(self, e: Endpoint) -> list[str]:
        """GET /models: the ids the server serves (the first is what a single-model
        `vllm serve` serves)."""
        data = asyncio.run(self._with_client(e, lambda c: self._request(c, e, "GET", "/models",
                                                                         None)))
        return [m.get("id") for m in (data.get("data") or []) if isinstance(m, dict)
                and m.get("id")]

    def probe(self, e: Endpoint) -> None:
        """One one-token generation from a fixed prompt (no record text): a model that is
        listed but cannot generate (wrong chat template, out of memory) fails here."""
        body = {"model": self.model, "messages": PROBE, "max_tokens": 1, "temperature": 0,
                "n": 1, "stream": False}
        data = asyncio.run(self._with_client(
            e, lambda c: self._request(c, e, "POST", "/chat/completions", body)))
        if not isinstance(data, dict) or not data.get("choices"):
            raise BackendError(f"{e.shown}/chat/completions answered a test request without "
                               "choices")

    def _client(self, e: Endpoint):
        """An HTTP client for one endpoint (use it as an async context manager)."""
        import httpx

        return httpx.AsyncClient(base_url=e.base, headers=self._headers(), auth=e.auth,
                                 timeout=httpx.Timeout(self.timeout))

    async def _with_client(self, e: Endpoint, fn):
        async with self._client(e) as client:
            return await fn(client)

    async def _request(self, client, e: Endpoint, method: str, path: str,
                       body: dict | None) -> dict:
        import httpx

        last = ""
        for attempt in range(self.retries + 1):
            self.http_attempts += 1
            retry_after = None
            try:
                resp = await client.request(method, path, json=body)
                if resp.status_code < 400:
                    return resp.json()
                last = f"HTTP {resp.status_code}: {resp.text[:200].strip()}"
                if resp.status_code not in RETRY_STATUS:
                    raise BackendError(f"{method} {e.shown}{path} failed: {last}")
                retry_after = resp.headers.get("retry-after")
            except httpx.TimeoutException:
                last = f"timed out after {self.timeout:g}s"
            except httpx.TransportError as exc:
                last = (f"connection error: {type(exc).__name__}: "
                        f"{str(exc).replace(e.base, e.shown)}")
            if attempt < self.retries:
                await asyncio.sleep(self._delay(attempt, retry_after))
        raise EndpointDown(f"{method} {e.shown}{path} failed after {self.retries + 1} "
                           f"attempts: {last}")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(BACKOFF_CAP, float(retry_after))
            except ValueError:
                pass
        delay = min(BACKOFF_CAP, self.backoff_base * 2 ** attempt)
        return delay * (0.5 + random.random() / 2)  # jitter: clients that failed together spread

    async def _complete(self, client, e: Endpoint, req: Request) -> str:
        body = {"model": self.model, "messages": list(req.messages),
                "temperature": self.params.temperature, "top_p": self.params.top_p,
                "max_tokens": req.max_new_tokens, "seed": req.seed, "n": 1, "stream": False}
        async with e.sem:
            data = await self._request(client, e, "POST", "/chat/completions", body)
        try:
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            # Only the shape: the body may hold generated text, which may echo a record.
            shape = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise BackendError(f"unexpected response from {e.shown}/chat/completions "
                               f"(no choices[0].message.content; got {shape})") from None
        self.calls += 1
        self.generated_tokens += int((data.get("usage") or {}).get("completion_tokens") or 0)
        return text

    async def _routed(self, clients: dict, req: Request) -> str:
        """The request on the healthy endpoint with the least load; on to the next one when
        that endpoint goes down under it."""
        last: EndpointDown | None = None
        while True:
            healthy = [e for e in self.endpoints if e.healthy]
            if not healthy:
                raise BackendError(f"every endpoint is down ({len(self.endpoints)}); last: "
                                   f"{last}")
            e = min(healthy, key=lambda x: x.load)
            e.load += 1
            try:
                return await self._complete(clients[e], e, req)
            except EndpointDown as exc:
                e.healthy = False  # its other requests fail over too, as they finish
                last = exc
                self.failovers += 1
            finally:
                e.load -= 1

    async def _generate(self, requests: list[Request], on_result: OnResult | None) -> list[str]:
        async with contextlib.AsyncExitStack() as stack:
            clients = {}
            for e in self.endpoints:
                e.sem = asyncio.Semaphore(self.concurrency)
                clients[e] = await stack.enter_async_context(self._client(e))

            async def one(i, req):
                text = await self._routed(clients, req)
                if on_result:
                    on_result(i, text)  # committed before the rest of the batch finishes
                return text

            tasks = [asyncio.create_task(one(i, r)) for i, r in enumerate(requests)]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

    def generate(self, requests: list[Request], on_result: OnResult | None = None) -> list[str]:
        if not requests:
            return []
        return asyncio.run(self._generate(requests, on_result))

    def close(self) -> None:
        pass
