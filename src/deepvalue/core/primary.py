"""The stated primary analysis: one outcome, method and estimand, fixed before the results are seen.

``estimation.primary: {outcome, method, estimand}`` in the config names the confirmatory result;
every other row is exploratory. The values file's ``primary: {method, estimand}`` (the row the
value stage values) stays valid: when only one of the two gives the method and estimand it is
used for both, when both give them they must agree, and when neither does the default is aipw ATT.
The outcome defaults to the first configured outcome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from deepvalue.core.errors import ConfigError, Problem

DEFAULT_METHOD, DEFAULT_ESTIMAND = "aipw", "ATT"


def values_file_primary(path: str | Path | None) -> dict | None:
    """The ``primary`` mapping as written in the values file (None when the file does not give one)."""
    if path is None or not Path(path).is_file():
        return None
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return None  # the values file's own validation reports it
    prim = raw.get("primary") if isinstance(raw, Mapping) else None
    return dict(prim) if isinstance(prim, Mapping) else None


def resolve_primary(
    estimation_primary: Mapping[str, Any] | None,
    values_primary: Mapping[str, Any] | None,
    outcomes: Iterable[str],
    *,
    values_path: str | Path = "the values file",
    methods: Iterable[str] | None = None,
) -> dict[str, str]:
    """``{outcome, method, estimand}`` of the primary analysis, or a ConfigError naming the conflict.

    ``estimation_primary`` is the config's ``estimation.primary`` (keys may be null), ``values_primary``
    the values file's ``primary`` as written (None when absent). With ``methods`` (estimation.methods)
    the method must be among them and report the estimand.
    """
    from deepvalue.core.settings import METHOD_ESTIMANDS

    outcomes = list(outcomes)
    cfg = dict(estimation_primary or {})
    problems = []
    outcome = cfg.get("outcome") or (outcomes[0] if outcomes else "")
    if outcomes and outcome not in outcomes:
        problems.append(
            Problem(
                "config",
                "estimation.primary.outcome",
                f"'{outcome}' is not a configured outcome",
                f"name one of: {', '.join(outcomes)}",
            )
        )
    chosen = {}
    for key, default in (("method", DEFAULT_METHOD), ("estimand", DEFAULT_ESTIMAND)):
        ours, theirs = cfg.get(key), (values_primary or {}).get(key)
        if ours is not None and theirs is not None and str(ours) != str(theirs):
            problems.append(
                Problem(
                    "config",
                    f"estimation.primary.{key}",
                    f"the config says {key} '{ours}' and {values_path} says primary.{key} '{theirs}': the primary "
                    "analysis must be one",
                    f"give the same {key} in both, or remove primary from the values file (it then follows the config)",
                    path=str(values_path),
                )
            )
        chosen[key] = str(ours if ours is not None else theirs if theirs is not None else default)
    if methods is not None and not problems:
        methods = list(methods)
        if chosen["method"] not in methods or chosen["estimand"] not in METHOD_ESTIMANDS.get(chosen["method"], ()):
            pairs = [f"{m} {e}" for m in methods for e in METHOD_ESTIMANDS.get(m, ())]
            problems.append(
                Problem(
                    "config",
                    "estimation.primary",
                    f"{chosen['method']} {chosen['estimand']} is not a method and estimand this study estimates",
                    f"choose one of: {', '.join(pairs)}",
                )
            )
    if problems:
        raise ConfigError(problems, headline="the primary analysis is not well defined")
    return {"outcome": outcome, **chosen}


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the resolved config as canonical JSON (sorted keys): the analysis plan that was run."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
