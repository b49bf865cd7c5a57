# syntax=docker/dockerfile:1.7
# The PyFlink job image: the official Flink image plus CPython 3.11, the project's wheel with
# its `job` extra (versions from uv.lock), the jars the job loads and the product's log4j. Build from the repository root:
#   docker build -f docker/job.Dockerfile -t traffic-risk/job:0.1.0 .
# Versions equal the project's pins (pyproject.toml: apache-flink; jvm/pom.xml: connector);
# tests/unit/k8s/test_dockerfiles.py fails when they drift apart.
ARG FLINK_IMAGE=flink:2.2.1-scala_2.12-java17
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8
ARG JDK_IMAGE=eclipse-temurin:17-jdk
ARG WHEEL_IMAGE=debian:bookworm-slim
ARG PYTHON_VERSION=3.11

FROM ${UV_IMAGE} AS uv

# The project's wheel, built from the runtime packages only: the dev tools (stack/,
# simulator/, benchmarks/, tests/) are not in the build context, so the image proves that
# the runtime imports none of them. uv fetches the Python and setuptools the build needs.
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
# The locked versions (uv.lock) of the `job` extra's dependencies, with their hashes: the
# image installs exactly what `./dev setup` and CI tested.
RUN uv export --frozen --project /src --no-dev --no-emit-project --extra job \
        --output-file /dist/requirements.txt

# The job's Java functions (jvm/udf: one-pass JSON parsing and the contract check), compiled against Flink's lib/.
FROM ${FLINK_IMAGE} AS flink-dist
FROM ${JDK_IMAGE} AS udf-build
COPY --from=flink-dist /opt/flink/lib /opt/flink/lib
COPY jvm/udf/src /src
# The contract's input schemas drive the JVM checks (ContractSchema.java): packaged beside them.
COPY contract/schemas/detection-results.v1.json contract/schemas/signal-states.v1.json /classes/io/trafficrisk/flink/
RUN javac --release 17 -cp "/opt/flink/lib/*" -d /classes $(find /src -name '*.java') \
 && jar cf /traffic-risk-udfs.jar -C /classes .

FROM ${FLINK_IMAGE}
ARG FLINK_VERSION=2.2.1
ARG PYTHON_VERSION
ARG FLINK_KAFKA_CONNECTOR_VERSION=5.0.0-2.2
ARG FLINK_KAFKA_CONNECTOR_SHA256=5605c691d11a501382c383fecba37a7a552467da5ab7ba904ef5d6f3d62c5616

COPY --from=uv /uv /usr/local/bin/uv
# TRAFFIC_HOME: the job finds its jars in $TRAFFIC_HOME/.jvm/flink (contract.workspace).
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PYTHONUNBUFFERED=1 \
    TRAFFIC_HOME=/opt/traffic-risk

# A self-contained CPython (the distribution's Python is not 3.11) with the wheel and the
# `job` extra at the locked versions (--no-deps: the export is the whole closure, nothing is
# resolved afresh): the client (-pyclientexec) and the Python workers (-pyexec) import from it.
RUN --mount=type=bind,from=wheel,source=/dist,target=/dist \
    uv python install ${PYTHON_VERSION} \
 && uv venv --python ${PYTHON_VERSION} /opt/venv \
 && uv pip install --no-deps --python /opt/venv/bin/python -r /dist/requirements.txt \
        "$(echo /dist/traffic_risk-*.whl)[job]" \
 && /opt/venv/bin/python -c "import pyflink.version as v; assert v.__version__ == '${FLINK_VERSION}', v.__version__"

# The product's log4j files (flink-conf/): Beam and PyFlink log process environments, API
# keys included, at INFO/WARN; these drop them. On Kubernetes the operator mounts the
# FlinkDeployment's logConfiguration (the same log4j-console.properties) over conf/.
COPY flink-conf/log4j.properties flink-conf/log4j-cli.properties \
     flink-conf/log4j-console.properties /opt/flink/conf/

# PythonDriver lives in flink-python; the operator's jarURI points at opt/, lib/ loads it.
RUN cp /opt/flink/opt/flink-python-${FLINK_VERSION}.jar /opt/flink/lib/

# The Kafka connector and the job's Java functions in $TRAFFIC_HOME/.jvm/flink.
ADD --checksum=sha256:${FLINK_KAFKA_CONNECTOR_SHA256} \
    https://repo1.maven.org/maven2/org/apache/flink/flink-sql-connector-kafka/${FLINK_KAFKA_CONNECTOR_VERSION}/flink-sql-connector-kafka-${FLINK_KAFKA_CONNECTOR_VERSION}.jar \
    /opt/traffic-risk/.jvm/flink/flink-sql-connector-kafka.jar
COPY --from=udf-build /traffic-risk-udfs.jar /opt/traffic-risk/.jvm/flink/traffic-risk-udfs.jar

# `-py /opt/traffic-risk/jobs/risk_job.py` (k8s FlinkDeployment) names the installed module
# through a link, so the image holds one copy of the code: the wheel's. PythonDriver runs it
# as `python -m risk_job`; `jobs`, `udfs`, `contract` import from site-packages (the folder
# has no __init__.py, so it never shadows the installed package). --check-config loads the
# settings, the patterns shipped in the wheel and the risk config, and counts the jars.
RUN mkdir -p /opt/traffic-risk/jobs \
 && ln -s "$(/opt/venv/bin/python -c 'import jobs.risk_job as m; print(m.__file__)')" \
        /opt/traffic-risk/jobs/risk_job.py \
 && chown -R flink:flink /opt/traffic-risk \
 && /opt/venv/bin/traffic-risk-job --check-config \
 && /opt/venv/bin/python /opt/traffic-risk/jobs/risk_job.py --check-config > /dev/null

USER flink
