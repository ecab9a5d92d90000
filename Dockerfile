# signalfold worker / API image. The embedded broker is not used here:
# SIGNALFOLD_KAFKA_BOOTSTRAP always names a real Kafka in containers.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY signalfold ./signalfold
COPY schemas ./schemas
COPY identity ./identity
COPY streams ./streams
COPY sinks ./sinks
RUN pip install --no-cache-dir . && useradd --create-home signalfold
USER signalfold
ENV SIGNALFOLD_DATA_DIR=/home/signalfold/data
ENTRYPOINT ["signalfold"]
