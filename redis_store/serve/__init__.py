"""``redis-store serve``: Clair's indexer HTTP API answered from the cache tier.

Clair's matcher and notifier, Quay and clairctl call Clair's indexer over HTTP; pointed at
this server instead, they get the tier's answers (a held report from process memory, a
batch of affected manifests from the reverse indexes) and the origin's where only the
origin knows. The server sits on top of the library: nothing in :mod:`redis_store` outside
this package (and the ``serve`` command) imports it.

- :mod:`~redis_store.serve.config`: the settings table (options and environment variables)
- :mod:`~redis_store.serve.app`: the ASGI application and the layer in front of the routes
- :mod:`~redis_store.serve.routes`: Clair's indexer routes
- :mod:`~redis_store.serve.auth`: Clair's pre-shared-key JWTs, checked and signed
- :mod:`~redis_store.serve.origin`: the origin's API (a connection pool) and database
- :mod:`~redis_store.serve.state`: the origin's index state, held briefly
- :mod:`~redis_store.serve.limits`: the concurrency limit and the largest body
- :mod:`~redis_store.serve.negotiate`: media types and encodings as Clair negotiates them
- :mod:`~redis_store.serve.importing`: the one place a finished report is imported
- :mod:`~redis_store.serve.introspect`, :mod:`~redis_store.serve.listener`: metrics, and
  the introspection listener (``/metrics``, ``/healthz``, ``/readyz``)

Needs the ``serve`` extra: ``pip install 'redis-store[serve]'``.
"""
