"""Any OpenAI-compatible chat endpoint: `vllm serve`, `transformers serve`, hosted APIs.

Plain httpx (the openai SDK's own transport) with our own retry loop, so the policy is explicit
and tested: bounded concurrency (an asyncio.Semaphore), a per-request timeout, and retries with
exponential backoff plus jitter on 429, 5xx, timeouts and connection errors, honouring a
`Retry-After` header. Other 4xx (bad model name, bad key) fail at once: retrying cannot fix them.
After the last retry the run stops with one clear error; finished requests are already cached.

Records go only where the user points: there is no default endpoint (a hosted API would be a
third party the user never named). The endpoint is asked for its models when the backend is
built, before any expensive stage, so a wrong or dead endpoint fails at once. Credentials in the
URL are sent as basic auth and never printed or recorded (redact.py).
"""
from __future__ import annotations

import asyncio
import os
import random

from ..errors import InputError, SanitizeError
from ..redact import redact_url, split_credentials
from .base import GenParams, OnResult, Request

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
BACKOFF_BASE = 0.5  # seconds; attempt n waits BACKOFF_BASE * 2**n (+ jitter), capped
BACKOFF_CAP = 20.0


class BackendError(SanitizeError):
    """The endpoint kept failing after all retries, or refused the request outright."""


class OpenAIBackend:
    name = "openai"

    def __init__(self, api_base: str | None, model: str | None, params: GenParams,
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8,
                 timeout: float = 120.0, retries: int = 4, backoff_base: float = BACKOFF_BASE):
        import httpx  # noqa: F401  (fail here, clearly, if it is missing)

        given = api_base or os.environ.get("OPENAI_BASE_URL")
        if not given:
            raise InputError("--paraphraser openai needs --api-base URL (or OPENAI_BASE_URL): "
                             "records are sent only to an endpoint you name")
        self.api_base, self.basic_auth = split_credentials(given.rstrip("/"))
        self.shown_base = redact_url(given.rstrip("/"))  # the form used in every message
        self.api_key = os.environ.get(api_key_env, "")
        self.params = params
        self.concurrency = max(1, concurrency)
        self.batch_size = self.concurrency * 4
        self.timeout = timeout
        self.retries = retries
        self.backoff_base = backoff_base
        self.calls = 0  # completed requests
        self.http_attempts = 0  # every HTTP attempt, retries included
        self.generated_tokens = 0
        # Prove, before any warm-up, that the endpoint answers, serves the model and generates.
        self.served = self.list_models()
        if not model and not self.served:
            raise InputError(f"{self.shown_base}/models lists no model; pass --paraphrase-model")
        if model and self.served and model not in self.served:
            raise InputError(f"{self.shown_base} does not serve --paraphrase-model {model!r}; it "
                             f"lists {', '.join(self.served[:5])}")
        self.model = model or self.served[0]
        self.probe()

    def probe(self) -> None:
        """One one-token generation from a fixed prompt (no record text): a model that is
        listed but cannot generate (wrong chat template, out of memory) fails here."""
        body = {"model": self.model, "messages": [{"role": "user", "content": "Say OK."}],
                "max_tokens": 1, "temperature": 0, "n": 1, "stream": False}
        data = asyncio.run(self._with_client(
            lambda c: self._request(c, "POST", "/chat/completions", body)))
        if not isinstance(data, dict) or not data.get("choices"):
            raise BackendError(f"{self.shown_base}/chat/completions answered a test request "
                               "without choices")

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def list_models(self) -> list[str]:
        """GET /models: the ids the server serves (the first is what a single-model
        `vllm serve` serves)."""
        data = asyncio.run(self._with_client(lambda c: self._request(c, "GET", "/models", None)))
        return [m.get("id") for m in (data.get("data") or []) if isinstance(m, dict)
                and m.get("id")]

    async def _with_client(self, fn):
        import httpx

        async with httpx.AsyncClient(base_url=self.api_base, headers=self._headers(),
                                     auth=self.basic_auth,
                                     timeout=httpx.Timeout(self.timeout)) as client:
            return await fn(client)

    async def _request(self, client, method: str, path: str, body: dict | None) -> dict:
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
                    raise BackendError(f"{method} {self.shown_base}{path} failed: {last}")
                retry_after = resp.headers.get("retry-after")
            except httpx.TimeoutException:
                last = f"timed out after {self.timeout:g}s"
            except httpx.TransportError as exc:
                last = (f"connection error: {type(exc).__name__}: "
                        f"{str(exc).replace(self.api_base, self.shown_base)}")
            if attempt < self.retries:
                await asyncio.sleep(self._delay(attempt, retry_after))
        raise BackendError(f"{method} {self.shown_base}{path} failed after {self.retries + 1} "
                           f"attempts: {last}")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(BACKOFF_CAP, float(retry_after))
            except ValueError:
                pass
        delay = min(BACKOFF_CAP, self.backoff_base * 2 ** attempt)
        return delay * (0.5 + random.random() / 2)  # jitter: clients that failed together spread

    async def _complete(self, client, sem, req: Request) -> str:
        body = {"model": self.model, "messages": list(req.messages),
                "temperature": self.params.temperature, "top_p": self.params.top_p,
                "max_tokens": req.max_new_tokens, "seed": req.seed, "n": 1, "stream": False}
        async with sem:
            data = await self._request(client, "POST", "/chat/completions", body)
        try:
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            # Only the shape: the body may hold generated text, which may echo a record.
            shape = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise BackendError(f"unexpected response from {self.shown_base}/chat/completions "
                               f"(no choices[0].message.content; got {shape})") from None
        self.calls += 1
        self.generated_tokens += int((data.get("usage") or {}).get("completion_tokens") or 0)
        return text

    async def _generate(self, requests: list[Request], on_result: OnResult | None) -> list[str]:
        sem = asyncio.Semaphore(self.concurrency)

        async def run(client):
            async def one(i, req):
                text = await self._complete(client, sem, req)
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

        return await self._with_client(run)

    def generate(self, requests: list[Request], on_result: OnResult | None = None) -> list[str]:
        if not requests:
            return []
        return asyncio.run(self._generate(requests, on_result))

    def close(self) -> None:
        pass
