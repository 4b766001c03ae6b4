# syntax=docker/dockerfile:1
# Evaluation: the `mis` command with lmms-eval beside it, for `mis eval general`
# (the paper's general-capability benchmarks) and every other `mis eval` run,
# e.g. as a Job next to the candidate's vLLM:
#   docker run mis-eval:dev eval general --endpoint http://vllm:8000/v1 \
#       --model mirage-8b --out /runs/mirage-8b --tasks mmstar,mmmu_val
# lmms-eval gets its own environment (/opt/lmms), pinned by
# requirements/lmms-eval.txt as `make setup-lmms` pins .venv-lmms: its
# dependencies would not fit the platform's. MIS_LMMS_PYTHON points
# `mis eval general` at it. Its own image, since lmms-eval and torch are
# gigabytes no service needs. It talks to endpoints only, so torch is the CPU
# build.
# Build from the repository root: docker build -f docker/eval.Dockerfile .

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/mis \
 && python -m venv /opt/lmms
WORKDIR /src
# lmms-eval first: its layer is the largest and changes least. torch alone from
# the CPU index (2.13.0+cpu meets the pin), its dependencies and the rest from PyPI.
COPY requirements/lmms-eval.txt requirements/lmms-eval.txt
RUN /opt/lmms/bin/pip install --index-url "${TORCH_INDEX_URL}" --no-deps -c requirements/lmms-eval.txt torch \
 && /opt/lmms/bin/pip install -c requirements/lmms-eval.txt lmms-eval torch \
 && /opt/lmms/bin/pip uninstall -y torchvision
COPY requirements/constraints.txt requirements/constraints.txt
COPY pyproject.toml ./
COPY mis mis
COPY services services
RUN /opt/mis/bin/pip install -c requirements/constraints.txt "." \
 && /opt/mis/bin/python -m compileall -q /opt/mis/lib

# Runtime stage: the two environments and nothing else, as a non-root user.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 10001 mis \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin mis
COPY --from=build /opt/mis /opt/mis
COPY --from=build /opt/lmms /opt/lmms
ENV PATH=/opt/mis/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    HF_HOME=/tmp/huggingface \
    MIS_LMMS_PYTHON=/opt/lmms/bin/python
USER 10001:10001
ENTRYPOINT ["mis"]
CMD ["eval", "--help"]
