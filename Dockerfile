# One image for the three services: `logstream producer | stream | query | migrate`.
# The benchmarks (bench/) stay out of it, as the tests do (.dockerignore).
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY logstream ./logstream
COPY producer_api ./producer_api
COPY stream ./stream
COPY query_api ./query_api
COPY embedded ./embedded
COPY cli ./cli
COPY infra ./infra
RUN pip install --no-cache-dir .

# The specs live beside the code, not inside the installed package.
ENV LOGSTREAM_TOPICS_SPEC=/app/infra/kafka/topics.yaml \
    LOGSTREAM_MIGRATIONS_DIR=/app/infra/clickhouse \
    PYTHONUNBUFFERED=1

RUN useradd --system --uid 10001 logstream
USER logstream
ENTRYPOINT ["logstream"]
