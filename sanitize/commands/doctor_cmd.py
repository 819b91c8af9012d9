"""`soft-sanitize doctor`: can the default path run on this machine, and what else is available?"""
from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass

import click

from ..cli_common import console, emit_json, json_option


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool  # does the default path (embedded models, local backend) need it?


def _torch_check() -> Check:
    try:
        import torch
    except ImportError:
        return Check("torch", False, "not installed: pip install torch==2.13.0", True)
    from ..models import pick_device

    device = pick_device()
    extra = f", {torch.cuda.get_device_name(0)}" if device == "cuda" else ""
    return Check("torch", True, f"{torch.__version__}, device {device}{extra}", True)


def _timed(name: str, required: bool, load) -> Check:
    start = time.perf_counter()
    try:
        detail = load()
    except Exception as exc:  # doctor reports every failure instead of stopping at the first
        return Check(name, False, str(exc).splitlines()[0] if str(exc) else repr(exc), required)
    return Check(name, True, f"{detail} (loaded in {time.perf_counter() - start:.1f}s)", required)


def _load_lm() -> str:
    from ..models import embedded_gguf, load_lm

    gguf = embedded_gguf()
    lm = load_lm(device="cpu")
    n = sum(p.numel() for p in lm.model.parameters())
    return f"{gguf.name}, {n / 1e6:.1f}M parameters"


def _load_embedder() -> str:
    from ..models import embedded_embedder_path, load_embedder

    vec = load_embedder(device="cpu").encode(["doctor check"])
    return f"{embedded_embedder_path()} (dim {vec.shape[1]})"


def _base_dependency(module: str, role: str) -> Check:
    found = importlib.util.find_spec(module) is not None
    hint = "importable" if found else "missing: reinstall soft-sanitize (a base dependency)"
    return Check(f"{module} ({role})", found, hint, True)


def _importable(module: str, extra: str) -> Check:
    found = importlib.util.find_spec(module) is not None
    hint = "importable" if found else f"not installed (pip install 'soft-sanitize[{extra}]')"
    return Check(f"{module} (optional)", found, hint, False)


def _endpoint(api_base: str, api_key_env: str) -> Check:
    """The openai backend's own start-up check: the endpoint lists its models and the first
    one answers a one-token test request."""
    from ..paraphrase.base import GenParams
    from ..paraphrase.openai_backend import OpenAIBackend
    from ..redact import redact_url

    url = f"{redact_url(api_base.rstrip('/'))}/models"
    try:
        backend = OpenAIBackend(api_base, None, GenParams(0.0, 1.0), api_key_env,
                                timeout=30, retries=0)
    except Exception as exc:  # any failure means "not usable" here
        return Check("endpoint", False, str(exc).splitlines()[0], False)
    return Check("endpoint", True, f"{url}: models {backend.served[:5]}; {backend.model} "
                 "generates", False)


@click.command("doctor")
@click.option("--api-base", help="Also check an OpenAI-compatible endpoint, e.g. "
              "http://localhost:8000/v1.")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True,
              help="Environment variable holding the endpoint's API key.")
@json_option
def command(api_base: str | None, api_key_env: str, as_json: bool) -> None:
    """Check the machine: torch and device, the embedded models, optional backends.

    Exits 1 when the default path (embedded LM + embedding model) cannot run, or when
    --api-base is given and the endpoint does not answer.

    \b
    Example:
      soft-sanitize doctor
      soft-sanitize doctor --api-base http://localhost:8000/v1
    """
    checks = [
        _torch_check(),
        _timed("embedded LM", True, _load_lm),
        _timed("embedding model", True, _load_embedder),
        _importable("vllm", "vllm"),
        _base_dependency("httpx", "the openai backend's HTTP client"),
    ]
    endpoint = _endpoint(api_base, api_key_env) if api_base else None
    if endpoint is not None:
        checks.append(endpoint)
    default_ok = all(c.ok for c in checks if c.required)
    ok = default_ok and (endpoint is None or endpoint.ok)
    if as_json:
        emit_json({"ok": ok, "checks": [asdict(c) for c in checks]})
    else:
        from rich.markup import escape
        from rich.table import Table

        table = Table(title="soft-sanitize doctor")
        for col in ("check", "status", "detail"):
            table.add_column(col)
        for c in checks:
            status = "[green]ok[/]" if c.ok else ("[red]FAIL[/]" if c.required else "[yellow]-[/]")
            table.add_row(c.name, status, escape(c.detail))
        console.print(table)
        if not default_ok:
            console.print("[red]the default path cannot run[/]")
        elif not ok:
            console.print("[red]the default path is ready, but the endpoint does not answer[/]")
        else:
            console.print("[green]ready[/]")
    if not ok:
        raise click.exceptions.Exit(1)
