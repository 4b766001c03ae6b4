# syntax=docker/dockerfile:1
# The MIRage trainer for the coordinator's training Jobs: CUDA torch and
# transformers. One GPU runs the default entrypoint; several run it under
# torchrun, which the coordinator sets as the Job's command:
#   torchrun --nproc-per-node 8 -m trainer.train CONFIG
# Build from the repository root: docker build -f docker/trainer.Dockerfile .

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# PyPI's Linux torch wheels are the CUDA builds; point this at
# https://download.pytorch.org/whl/cuXYZ for another CUDA version.
ARG TORCH_INDEX_URL=https://pypi.org/simple
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/mis
WORKDIR /src
COPY requirements/constraints.txt requirements/constraints.txt
RUN /opt/mis/bin/pip install --index-url "${TORCH_INDEX_URL}" -c requirements/constraints.txt torch==2.13.0
COPY pyproject.toml ./
COPY mis mis
COPY services services
COPY trainer trainer
# No torchvision: the trainer builds each processor without its video part and uses the
# image processors' PIL backend (trainer/processors.py), which is all training on images needs.
RUN /opt/mis/bin/pip install -c requirements/constraints.txt ".[train]"

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 10001 mis \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin mis
COPY --from=build /opt/mis /opt/mis
ENV PATH=/opt/mis/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    HF_HOME=/tmp/huggingface \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["python", "-m", "trainer.train"]
