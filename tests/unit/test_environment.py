"""The three descriptions of the environment agree: pyproject, requirements.lock, environment.yml."""

from __future__ import annotations

import re
import tomllib

import yaml

from conftest import REPO


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req, maxsplit=1)[0].strip().lower()


def lock_versions() -> dict[str, str]:
    out = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            out[name.strip().lower()] = version.strip()
    return out


def test_lock_pins_every_dependency_of_pyproject():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = meta["dependencies"] + meta["optional-dependencies"]["test"] + meta["optional-dependencies"]["lint"]
    lock = lock_versions()
    missing = [d for d in deps if _name(d) not in lock]
    assert not missing


def test_environment_yml_pins_the_same_versions_as_the_lock():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = {
        _name(d)
        for d in meta["dependencies"] + meta["optional-dependencies"]["test"] + meta["optional-dependencies"]["lint"]
    }
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = {}
    for item in env["dependencies"]:
        if isinstance(item, str):
            name, _, version = item.partition("=")
            conda[name.lower()] = version
    assert conda["python"] == "3.11"
    lock = lock_versions()
    assert deps <= set(conda), deps - set(conda)
    mismatched = {d: (conda[d], lock[d]) for d in deps if conda[d] != lock[d]}
    assert not mismatched


def test_rule_env_is_the_environment_file():
    assert (REPO / "workflow" / "envs" / "deepvalue.yaml").resolve() == (REPO / "environment.yml").resolve()
