"""The project as a package others install: its license, metadata, changelog and the
README's first steps."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from redis_store.version import __version__

ROOT = Path(__file__).resolve().parents[1]


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_file_is_apache_2() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the full text, not a pointer to it


def test_metadata() -> None:
    project = pyproject()["project"]
    assert project["license"] == "Apache-2.0"  # an SPDX expression (PEP 639)
    assert project["license-files"] == ["LICENSE"]
    classifiers = project["classifiers"]
    assert (
        "Typing :: Typed" in classifiers and "Programming Language :: Python :: 3.11" in classifiers
    )
    assert not [c for c in classifiers if c.startswith("License ::")]  # the expression says it
    assert project["urls"]  # related projects, named for what they are
    for url in project["urls"].values():
        assert url.startswith("https://github.com/quay/")
    assert project["dynamic"] == ["version"]
    version_from = pyproject()["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert version_from == "redis_store.version.__version__"
    extras = project["optional-dependencies"]
    assert any(d.startswith("prometheus_client") for d in extras["metrics"])
    assert any(d.startswith("opentelemetry-api") for d in extras["tracing"])
    # CI installs .[test]: the optional extras' tests must run there
    test = extras["test"]
    for wanted in ("prometheus_client", "opentelemetry-api", "opentelemetry-sdk"):
        assert any(d.startswith(wanted) for d in test), wanted


def test_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert "## Unreleased" in text and f"## {__version__}" in text


def test_readme_quick_start() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Quick start")
    quick = readme[start : readme.index("\n## ", start + 1)]
    commands = re.search(r"```sh\n(.*?)```", quick, re.S)
    assert commands is not None
    lines = commands.group(1).splitlines()
    assert "venv" in lines[0] and "pip install" not in lines[0]  # the environment comes first
    assert "minutes" in quick  # how long the tests take
    assert "../shared" in quick and "skip" in quick  # what the shared reports are, and without them
