# redis-store serve: Clair's indexer HTTP API answered from a Redis cache tier.
#   docker build -t redis-store-serve .
#   docker run -e REDIS_URL=redis://redis:6379/0 -e REDIS_STORE_ORIGIN=http://clair:6060 \
#     -p 6060:6060 redis-store-serve
# Every setting is an environment variable (docs/serving.md has the table). Slim, a user
# without privileges, and a health check on the introspection listener's /healthz.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY redis_store ./redis_store
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[serve,postgres]'

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin serve
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'redis-store[serve,postgres]' \
    && rm -rf /wheels
USER 10001
ENV PYTHONUNBUFFERED=1 \
    REDIS_STORE_LISTEN=0.0.0.0:6060 \
    REDIS_STORE_INTROSPECTION=0.0.0.0:8089
EXPOSE 6060 8089
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8089/healthz', timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["redis-store", "serve"]
