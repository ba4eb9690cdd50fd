# syntax=docker/dockerfile:1
# liqmon image: one image for every role (`liqmon run | collect | detect | alert ...`).
#   docker build -t liqmon .
#   docker run --rm liqmon check-config
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/liqmon
WORKDIR /src
# The lock pins runtime and development dependencies; used as constraints it makes pip install
# exactly the locked versions of what liqmon needs at run time, and nothing of the dev tools.
COPY deploy/requirements.lock ./requirements.lock
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN /opt/liqmon/bin/pip install -c requirements.lock . \
    && /opt/liqmon/bin/pip check \
    && /opt/liqmon/bin/liqmon --version

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="liqmon" \
      org.opencontainers.image.description="Liquidation cascade, funding flip and open-interest collapse monitor" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 liqmon \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/liqmon --shell /usr/sbin/nologin liqmon \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/liqmon
COPY --from=build /opt/liqmon /opt/liqmon
ENV PATH=/opt/liqmon/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LIQMON_LOG__FORMAT=json \
    LIQMON_METRICS__HOST=0.0.0.0 \
    LIQMON_METRICS__PORT=8787
USER 10001:10001
WORKDIR /var/lib/liqmon
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LIQMON_METRICS__PORT', '8787'), timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["liqmon"]
CMD ["run"]
