# syntax=docker/dockerfile:1.7
# The detector image, CPU or GPU variant of one Dockerfile. Build from the repository root:
#   docker build -f docker/detector.Dockerfile -t traffic-risk/detector:0.1.0-cpu .
#   docker build -f docker/detector.Dockerfile --build-arg VARIANT=gpu \
#       --build-arg BASE_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 \
#       -t traffic-risk/detector:0.1.0-gpu .
# The GPU variant differs only in its base (CUDA runtime) and the extras it installs
# (DETECTOR_EXTRAS); pods request nvidia.com/gpu (k8s/overlays/prod).
ARG BASE_IMAGE=debian:bookworm-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8

FROM ${UV_IMAGE} AS uv

FROM ${BASE_IMAGE}
ARG VARIANT=cpu
ARG PYTHON_VERSION=3.11
ARG DETECTOR_EXTRAS=detector

COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PYTHONPATH=/opt/traffic-risk \
    PYTHONUNBUFFERED=1 \
    TRAFFIC_DETECTOR_VARIANT=${VARIANT} \
    TRAFFIC_DETECTOR_CONFIG=/etc/traffic-risk/cameras.yaml \
    YOLO_CONFIG_DIR=/tmp/ultralytics \
    YOLO_AUTOINSTALL=0

# OpenCV needs libgl-free runtime libs only (headless wheel); ca-certificates for HTTPS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml /opt/traffic-risk/pyproject.toml
RUN uv python install ${PYTHON_VERSION} \
 && uv venv --python ${PYTHON_VERSION} /opt/venv \
 && uv pip install --python /opt/venv/bin/python -r /opt/traffic-risk/pyproject.toml \
        $(printf -- '--extra %s ' $(echo "${DETECTOR_EXTRAS}" | tr ',' ' '))

COPY contract /opt/traffic-risk/contract
COPY detector /opt/traffic-risk/detector
COPY stack /opt/traffic-risk/stack
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin detector \
 && /opt/venv/bin/python -c "import contract, detector, detector.cli"

USER 10001
EXPOSE 9108
ENTRYPOINT ["/opt/venv/bin/python", "-c", "import sys; from detector.cli import main; sys.exit(main())"]
