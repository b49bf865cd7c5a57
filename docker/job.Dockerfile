# syntax=docker/dockerfile:1.7
# The PyFlink job image: the official Flink image plus CPython 3.11, the project's `job` extra
# and the Kafka connector. Build from the repository root:
#   docker build -f docker/job.Dockerfile -t traffic-risk/job:0.1.0 .
# Versions equal the project's pins (pyproject.toml: apache-flink; jvm/pom.xml: connector);
# tests/unit/k8s/test_dockerfiles.py fails when they drift apart.
ARG FLINK_IMAGE=flink:2.2.1-scala_2.12-java17
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8
ARG JDK_IMAGE=eclipse-temurin:17-jdk

FROM ${UV_IMAGE} AS uv

# The job's Java functions (jvm/udf: one-pass JSON parsing and the contract check), compiled against Flink's lib/.
FROM ${FLINK_IMAGE} AS flink-dist
FROM ${JDK_IMAGE} AS udf-build
COPY --from=flink-dist /opt/flink/lib /opt/flink/lib
COPY jvm/udf/src /src
# The contract's schema drives the JVM check (ContractSchema.java): packaged beside it.
COPY contract/schemas/detection-results.v1.json /classes/io/trafficrisk/flink/
RUN javac --release 17 -cp "/opt/flink/lib/*" -d /classes $(find /src -name '*.java') \
 && jar cf /traffic-risk-udfs.jar -C /classes .

FROM ${FLINK_IMAGE}
ARG FLINK_VERSION=2.2.1
ARG PYTHON_VERSION=3.11
ARG FLINK_KAFKA_CONNECTOR_VERSION=5.0.0-2.2
ARG FLINK_KAFKA_CONNECTOR_SHA256=5605c691d11a501382c383fecba37a7a552467da5ab7ba904ef5d6f3d62c5616

COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PYTHONPATH=/opt/traffic-risk \
    PYTHONUNBUFFERED=1

# A self-contained CPython (the distribution's Python is not 3.11) and the job's dependencies.
COPY pyproject.toml /opt/traffic-risk/pyproject.toml
RUN uv python install ${PYTHON_VERSION} \
 && uv venv --python ${PYTHON_VERSION} /opt/venv \
 && uv pip install --python /opt/venv/bin/python -r /opt/traffic-risk/pyproject.toml --extra job \
 && /opt/venv/bin/python -c "import pyflink.version as v; assert v.__version__ == '${FLINK_VERSION}', v.__version__"

# PythonDriver lives in flink-python; the operator's jarURI points at opt/, lib/ loads it.
RUN cp /opt/flink/opt/flink-python-${FLINK_VERSION}.jar /opt/flink/lib/

# The Kafka connector where stack.paths.job_jars() looks for it (<project>/.jvm/flink).
ADD --checksum=sha256:${FLINK_KAFKA_CONNECTOR_SHA256} \
    https://repo1.maven.org/maven2/org/apache/flink/flink-sql-connector-kafka/${FLINK_KAFKA_CONNECTOR_VERSION}/flink-sql-connector-kafka-${FLINK_KAFKA_CONNECTOR_VERSION}.jar \
    /opt/traffic-risk/.jvm/flink/flink-sql-connector-kafka.jar

COPY --from=udf-build /traffic-risk-udfs.jar /opt/traffic-risk/.jvm/flink/traffic-risk-udfs.jar

# The job's code: the entry point and the packages it imports (also shipped with -pyfs).
COPY contract /opt/traffic-risk/contract
COPY udfs /opt/traffic-risk/udfs
COPY stack /opt/traffic-risk/stack
COPY jobs /opt/traffic-risk/jobs
COPY flink-conf /opt/traffic-risk/flink-conf
RUN chown -R flink:flink /opt/traffic-risk \
 && /opt/venv/bin/python -c "import contract, udfs, jobs"

USER flink
