# One image for both services: `python -m services.web_gateway` (the default command)
# or `python -m services.order_api`, under the opentelemetry-instrument launcher.
#
#   docker build -t otel-python-microservices .
#   docker run --rm -p 127.0.0.1:8080:8080 otel-python-microservices

# Both stages must use the same Python: the venv links to the base image's interpreter.
ARG PYTHON_IMAGE=python:3.11-slim

# Builder: install the project and its dependencies into a virtual environment.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# The locked runtime dependencies, each checked against its hash (requirements/runtime.txt
# is exported from uv.lock by `make lock`); a layer that changes only with the lock.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN pip install --require-hashes --no-deps -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY services ./services
COPY otel ./otel
COPY otel_stack ./otel_stack
# What otel_stack/data links to: the rules and configs the package ships.
COPY prometheus/rules ./prometheus/rules
COPY alertmanager/alertmanager.yml ./alertmanager/alertmanager.yml
COPY collector-config.yaml ./collector-config.yaml
COPY otelcol/builder-config.yaml ./otelcol/builder-config.yaml
# A regular (not editable) install of the project alone (--no-deps: nothing beyond the
# lock): the entry points of the launcher's distro and configurator are read from the
# installed package's metadata.
RUN pip install --no-deps .

# Final image: the virtual environment (which holds the installed services/, otel/ and
# otel_stack/ packages) and nothing else from the build.
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OTEL_PYTHON_DISTRO=otel_stack \
    OTEL_PYTHON_CONFIGURATOR=otel_stack \
    ORDER_API_DB=/data/orders.db

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent app \
    && mkdir /data \
    && chown app:app /data

COPY --from=builder /opt/venv /opt/venv

# The order-api's SQLite database lives in /data, owned by the app user; a named volume
# mounted there (docker-compose.yml) starts with this owner.
WORKDIR /app
USER app:app

# web-gateway HTTP (metrics on /metrics); order-api gRPC and metrics.
EXPOSE 8080 50051 8000

ENTRYPOINT ["opentelemetry-instrument", "python", "-m"]
CMD ["services.web_gateway"]
