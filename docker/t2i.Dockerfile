# syntax=docker/dockerfile:1
# The t2i-refiner on a GPU: Stable Diffusion 3.5 through diffusers on CUDA
# torch. Its own image because CUDA torch is several GB that no other service
# needs. CUDA libraries come with the torch wheels; the node's driver is
# mounted by the NVIDIA container runtime, so no CUDA base image is needed.
# Build from the repository root: docker build -f docker/t2i.Dockerfile .

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
RUN /opt/mis/bin/pip install -c requirements/constraints.txt ".[t2i]"

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 10001 mis \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin mis
COPY --from=build /opt/mis /opt/mis
ENV PATH=/opt/mis/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    HF_HOME=/tmp/huggingface \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    MIS_HOST=0.0.0.0 \
    MIS_PORT=50051 \
    MIS_METRICS_PORT=9090 \
    MIS_T2I_RENDERER=diffusers \
    MIS_T2I_MODEL_PATH=/models/t2i
USER 10001:10001
EXPOSE 50051 9090
ENTRYPOINT ["mis"]
CMD ["serve", "t2i-refiner"]
