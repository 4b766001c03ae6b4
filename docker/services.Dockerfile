# syntax=docker/dockerfile:1
# One image for every CPU service (extractor, detoxifier, filter, cot-annotator,
# judge, coordinator): they share one code base and the same light
# dependencies, so one image is built, scanned and pulled once per node, and a
# pod picks its service by command:
#   docker run mis-services:dev serve judge
# Build from the repository root: docker build -f docker/services.Dockerfile .

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# Build stage: resolve the pinned dependencies into a virtual environment.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/mis
WORKDIR /src
# Dependencies first, so code edits reuse the cached dependency layer.
COPY requirements/constraints.txt requirements/constraints.txt
COPY pyproject.toml ./
COPY mis mis
COPY services services
# The light core, the coordinator's Kubernetes client included (no torch here).
RUN /opt/mis/bin/pip install -c requirements/constraints.txt "." \
 && /opt/mis/bin/python -m compileall -q /opt/mis/lib

# Runtime stage: the virtual environment and nothing else, as a non-root user.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 10001 mis \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin mis
COPY --from=build /opt/mis /opt/mis
ENV PATH=/opt/mis/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MIS_HOST=0.0.0.0 \
    MIS_PORT=50051 \
    MIS_METRICS_PORT=9090
USER 10001:10001
EXPOSE 50051 9090
ENTRYPOINT ["mis"]
CMD ["--help"]
