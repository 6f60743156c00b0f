# hookline: the API (`hookline api`) and the worker (`hookline worker`) share this image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY py.typed cli.py serve.py devserver.py process.py worker.py ./
COPY api ./api
COPY workflows ./workflows
COPY activities ./activities
COPY delivery ./delivery
COPY core ./core
COPY client ./client
COPY store ./store
COPY infra ./infra
COPY migrations ./migrations
# Runtime dependencies only (no [dev] extra), then drop the sources.
RUN pip install . && rm -rf /src

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin hookline
USER hookline
WORKDIR /home/hookline
ENV HOOKLINE_DATA_DIR=/home/hookline/.hookline

EXPOSE 8000
CMD ["hookline", "api", "--host", "0.0.0.0", "--port", "8000"]
