"""The README's Python examples run as written (on fakeredis instead of a server)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from redis_store import AsyncRedisStore, RedisStore

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    server = fakeredis.FakeServer()

    def sync_from_url(cls: Any, url: str, **kwargs: Any) -> RedisStore:
        return RedisStore(fakeredis.FakeRedis(server=server), kwargs.get("namespace", "claircore"))

    def async_from_url(cls: Any, url: str, **kwargs: Any) -> AsyncRedisStore:
        return AsyncRedisStore(fakeredis.FakeAsyncRedis(server=server))

    monkeypatch.setattr(RedisStore, "from_url", classmethod(sync_from_url))
    monkeypatch.setattr(AsyncRedisStore, "from_url", classmethod(async_from_url))
    assert len(BLOCKS) == 6
    env: dict[str, Any] = {}
    exec(BLOCKS[0], env)
    env["digest"] = env["manifest"].hash
    body = "".join("    " + line + "\n" for line in BLOCKS[1].splitlines())
    exec("async def _main():\n" + body.replace("        ...\n", "        pass\n"), env)
    asyncio.run(env["_main"]())
    exec(BLOCKS[2], env)
    from redis_store import Package, Vulnerability

    env["vulnerability"] = Vulnerability(id="1", package=Package(name="gzip"))
    env["vulnerabilities"] = [env["vulnerability"]]
    exec(BLOCKS[3], env)
    env["url"] = "redis://localhost:6379/0"
    exec(BLOCKS[4], env)  # the local cache: off on fakeredis, and says why
    assert env["store"].local_cache.state == "off"
    exec(BLOCKS[5], env)  # the cache tier's origins (made, not asked: nothing is read)
    assert env["api"].name == "https://clair.example"
