# syntax=docker/dockerfile:1.7
# The detector image, CPU or GPU variant of one Dockerfile. Build from the repository root:
#   docker build -f docker/detector.Dockerfile -t traffic-risk/detector:0.1.0-cpu .
#   docker build -f docker/detector.Dockerfile --build-arg VARIANT=gpu \
#       --build-arg BASE_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 \
#       --build-arg DETECTOR_EXTRAS=detector,yolo -t traffic-risk/detector:0.1.0-gpu .
# The GPU variant differs only in its base (CUDA runtime) and the extras it installs
# (DETECTOR_EXTRAS, comma-separated): the CPU image has no torch (SSD through OpenCV,
# ByteTrack from supervision); the GPU image adds the `yolo` extra, ultralytics with PyPI's
# torch 2.5.1 for Linux, which is the CUDA build. Pods request nvidia.com/gpu (k8s/overlays/prod).
ARG BASE_IMAGE=debian:bookworm-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8
ARG WHEEL_IMAGE=debian:bookworm-slim
ARG PYTHON_VERSION=3.11

FROM ${UV_IMAGE} AS uv

# The project's wheel, built from the runtime packages only (as in job.Dockerfile): the dev
# tools are not in the build context. uv fetches the Python and setuptools the build needs.
FROM ${WHEEL_IMAGE} AS wheel
ARG PYTHON_VERSION
COPY --from=uv /uv /usr/local/bin/uv
COPY pyproject.toml uv.lock README.md LICENSE /src/
COPY contract /src/contract
COPY udfs /src/udfs
COPY jobs /src/jobs
COPY detector /src/detector
COPY dashboard /src/dashboard
RUN uv build --wheel --python ${PYTHON_VERSION} --out-dir /dist /src
# The locked versions (uv.lock) of the extras' dependencies, with their hashes: the image
# installs exactly what `./dev setup` and CI tested.
ARG DETECTOR_EXTRAS=detector
RUN uv export --frozen --project /src --no-dev --no-emit-project \
        $(echo "${DETECTOR_EXTRAS}" | tr ',' '\n' | sed 's/^/--extra /') \
        --output-file /dist/requirements.txt

FROM ${BASE_IMAGE}
ARG VARIANT=cpu
ARG PYTHON_VERSION
ARG DETECTOR_EXTRAS=detector

COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PYTHONUNBUFFERED=1 \
    TRAFFIC_DETECTOR_VARIANT=${VARIANT} \
    TRAFFIC_DETECTOR_CONFIG=/etc/traffic-risk/cameras.yaml \
    YOLO_CONFIG_DIR=/tmp/ultralytics \
    YOLO_AUTOINSTALL=0

# OpenCV needs libgl-free runtime libs only (headless wheel); ca-certificates for HTTPS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

# The wheel with its extras at the locked versions; `traffic-detector` reads --config from TRAFFIC_DETECTOR_CONFIG.
# --no-deps: the export is the whole closure, so nothing is resolved afresh; it also keeps out
# `opencv-python`, which supervision and ultralytics ask for and the lock resolves away
# (pyproject.toml [tool.uv]): the image has one OpenCV, the headless build.
# The build checks the installed config loader on the example the wheel ships, and that the
# GPU variant's torch is a CUDA build.
RUN --mount=type=bind,from=wheel,source=/dist,target=/dist \
    uv python install ${PYTHON_VERSION} \
 && uv venv --python ${PYTHON_VERSION} /opt/venv \
 && uv pip install --no-deps --python /opt/venv/bin/python -r /dist/requirements.txt \
        "$(echo /dist/traffic_risk-*.whl)[${DETECTOR_EXTRAS}]" \
 && case ",${DETECTOR_EXTRAS}," in *,yolo,*) /opt/venv/bin/python -c \
        "import torch, ultralytics; assert torch.version.cuda, 'torch is not a CUDA build'" ;; esac \
 && /opt/venv/bin/traffic-detector --check-config --config \
        "$(/opt/venv/bin/python -c 'import detector, pathlib; print(pathlib.Path(detector.__file__).with_name("cameras.example.yaml"))')" \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin detector

USER 10001
EXPOSE 9108
ENTRYPOINT ["/opt/venv/bin/traffic-detector"]
