# signalfold worker / API image. The embedded broker is not used here:
# SIGNALFOLD_KAFKA_BOOTSTRAP always names a real Kafka in containers.
#
# Two stages: the first builds signalfold's wheel from the packages the
# containers run (no tests, bench, docs or examples); the second installs that
# wheel with its runtime dependencies only (no dev extras) and keeps no source
# tree, build tools or pip cache.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY signalfold ./signalfold
COPY schemas ./schemas
COPY identity ./identity
COPY streams ./streams
COPY sinks ./sinks
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home signalfold
USER signalfold
WORKDIR /home/signalfold
ENV SIGNALFOLD_DATA_DIR=/home/signalfold/data
ENTRYPOINT ["signalfold"]
