# syntax=docker/dockerfile:1
# The retriever with real corpora: CLIP's towers through transformers on CPU
# torch and FAISS indexes (the `retrieval` extra), and LanceDB for indexes of
# kind lance (the `vectordb` extra), for the MIS-real split.
#   docker run -v /models/clip:/models/clip -e MIS_RETRIEVER_CLIP_PATH=/models/clip \
#       -e MIS_RETRIEVER_INDEX=my-photos mis-retriever:dev     # mis serve retriever
# and `mis index build` from the same image builds the indexes it searches.
# Its own image, since torch and FAISS are a gigabyte no other service needs;
# the services image runs the retriever's offline embedder only. Retrieval
# embeds one phrase per query, so CPU torch is enough. The FAISS here is
# faiss-cpu; with a faiss-gpu wheel in its place the same code searches on
# the GPUs it sees (faiss.get_num_gpus(), docs/retrieval.md).
# Build from the repository root: docker build -f docker/retriever.Dockerfile .

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/mis
WORKDIR /src
# torch alone from the CPU index (2.13.0+cpu meets the pin); its dependencies
# and everything else from PyPI with the platform's pins.
COPY requirements/constraints.txt requirements/constraints.txt
RUN /opt/mis/bin/pip install --index-url "${TORCH_INDEX_URL}" --no-deps -c requirements/constraints.txt torch==2.13.0
COPY pyproject.toml ./
COPY mis mis
COPY services services
RUN /opt/mis/bin/pip install -c requirements/constraints.txt ".[retrieval,vectordb]" \
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
    HF_HOME=/tmp/huggingface \
    MIS_HOST=0.0.0.0 \
    MIS_PORT=50051 \
    MIS_METRICS_PORT=9090
USER 10001:10001
EXPOSE 50051 9090
ENTRYPOINT ["mis"]
CMD ["serve", "retriever"]
