"""The study configuration: load, validate against the JSON Schema, fill defaults.

One function, :func:`load_config`, serves the Snakefile, the CLI and the tests, so a typo in a
config gives the same message everywhere: every problem at once, each with the key and the fix.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml
from jsonschema import Draft202012Validator, validators

from deepvalue.core.errors import ConfigError, Problem, did_you_mean

CANONICAL_COLUMNS = {
    "clients": ("client_id", "service", "site", "start_date"),
    "contacts": ("client_id", "worker_id", "contact_date", "contact_id", "mode", "duration_minutes"),
    "outcomes": ("client_id", "outcome", "value", "outcome_date"),
    "workers": ("worker_id", "site", "start_date", "end_date"),
    "responses": ("client_id", "questionnaire", "item", "response", "response_date"),
}


def config_schema() -> dict:
    """The config JSON Schema shipped with the package (workflow/schemas links to it)."""
    text = resources.files("deepvalue").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _with_defaults(validator_class):
    """A validator that writes each property's `default` into the instance before descending,
    so nested sections given as {} come out complete."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


_DefaultingValidator = _with_defaults(Draft202012Validator)


def _key(path) -> str:
    parts = []
    for p in path:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def _fix_for(error) -> str:
    v, val = error.validator, error.validator_value
    if v == "required":
        missing = [k for k in val if not isinstance(error.instance, dict) or k not in error.instance]
        return f"add {', '.join(repr(m) for m in missing)} under {_key(error.absolute_path)} (see config/README.md)"
    if v in ("additionalProperties", "propertyNames"):
        allowed = sorted(error.schema.get("properties", {})) if v == "additionalProperties" else val.get("enum", [])
        bad = error.instance if v == "propertyNames" else None
        if v == "additionalProperties" and isinstance(error.instance, dict):
            extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
            bad = extra[0] if extra else None
        guess = did_you_mean(bad, allowed) if bad else ""
        return f"remove or rename the key ({guess}allowed keys: {', '.join(map(str, allowed))})"
    if v == "enum":
        return f"{did_you_mean(error.instance, val)}use one of: {', '.join(map(str, val))}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        lo = error.schema.get("minimum", "-inf")
        hi = error.schema.get("maximum", "inf")
        return f"use a value between {lo} and {hi}"
    if v == "type":
        return f"give a value of type {val}"
    if v == "pattern":
        return f"give a value matching {val!r}"
    if v in ("minItems", "minLength"):
        return "give at least one entry"
    if v == "oneOf":
        return "give either null or a complete table entry with 'path' and 'columns' (see config/README.md)"
    return "see config/README.md for this key"


def _message_for(error) -> str:
    if error.validator == "propertyNames":
        return f"unknown column key {error.instance!r}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
        return f"unknown key(s) {', '.join(repr(e) for e in extra)}"
    msg = error.message
    return msg if len(msg) < 200 else msg[:200] + "..."


def _schema_problems(cfg: dict, source: str) -> list[Problem]:
    validator = _DefaultingValidator(config_schema())
    problems = []
    for err in sorted(validator.iter_errors(cfg), key=lambda e: (list(map(str, e.absolute_path)), e.validator)):
        # oneOf/allOf wrap the useful inner errors; report the innermost ones instead.
        leaves = [err]
        if err.context:
            leaves = [e for e in err.context if not e.context] or leaves
            # for null-or-table, keep the branch that is an object (the user meant a table)
            obj_branch = [e for e in leaves if e.validator != "type"]
            leaves = obj_branch or leaves[:1]
        for leaf in leaves:
            path = list(err.absolute_path) + [p for p in leaf.relative_path if leaf is not err]
            problems.append(
                Problem(
                    table="config",
                    column=_key(path),
                    message=_message_for(leaf),
                    fix=_fix_for(leaf),
                    path=source,
                )
            )
    # identical leaves can arrive through several branches
    unique: dict[tuple, Problem] = {}
    for p in problems:
        unique.setdefault((p.column, p.message), p)
    return list(unique.values())


def _cross_problems(cfg: dict, source: str) -> list[Problem]:
    problems = []
    for section in ("covariates", "outcomes"):
        names = [item.get("name") for item in cfg.get(section) or [] if isinstance(item, dict)]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            problems.append(
                Problem(
                    "config",
                    section,
                    f"duplicate name(s): {', '.join(map(str, dups))}",
                    "list each name once",
                    path=source,
                )
            )
    outcome_columns = ((cfg.get("extract") or {}).get("outcomes") or {}).get("columns") or {}
    for i, item in enumerate(cfg.get("outcomes") or []):
        if (
            isinstance(item, dict)
            and item.get("time_to_event")
            and (item.get("recorded") != "events" or item.get("type") != "binary")
        ):
            problems.append(
                Problem(
                    "config",
                    f"outcomes[{i}].time_to_event",
                    f"outcome {item.get('name')!r} is not a binary outcome recorded as events: it has no time to "
                    "a first occurrence",
                    "use time_to_event with type: binary and recorded: events, or remove it",
                    path=source,
                )
            )
        if not isinstance(item, dict) or item.get("recorded") != "events":
            continue
        if item.get("type") == "continuous":
            problems.append(
                Problem(
                    "config",
                    f"outcomes[{i}].recorded",
                    f"outcome {item.get('name')!r} is continuous and recorded as events: an occurrence has no "
                    "amount to add up",
                    "use recorded: measured (one value per client) for a continuous outcome, or type: count "
                    "for a number of occurrences",
                    path=source,
                )
            )
        if isinstance(outcome_columns, dict) and "outcome_date" not in outcome_columns:
            problems.append(
                Problem(
                    "config",
                    f"outcomes[{i}].recorded",
                    f"outcome {item.get('name')!r} is recorded as events but extract.outcomes.columns has no "
                    "outcome_date: an occurrence cannot be placed in the follow-up window without its date",
                    "map outcome_date to the column holding each occurrence's date, or use recorded: measured",
                    path=source,
                )
            )
    clients = (cfg.get("extract") or {}).get("clients") or {}
    mapped = set((clients.get("columns") or {}).values()) if isinstance(clients, dict) else set()
    for item in cfg.get("covariates") or []:
        if isinstance(item, dict) and item.get("name") in mapped:
            problems.append(
                Problem(
                    "config",
                    "covariates",
                    f"covariate {item['name']!r} is also a mapped clients column",
                    "service, site and start date are always adjusted for; remove it from covariates",
                    path=source,
                )
            )
    return problems


def _questionnaire_problems(cfg: dict, source: str) -> list[Problem]:
    """Questionnaire entries: unique names that are not outcomes' names, the key each role needs,
    and a responses table to read them from (the items' number per instrument is checked at ingest)."""
    entries = [q for q in cfg.get("questionnaires") or [] if isinstance(q, dict)]
    if not entries:
        return []
    problems = []
    names = [q.get("name") for q in entries]
    outcome_names = {o.get("name") for o in cfg.get("outcomes") or [] if isinstance(o, dict)}
    dups = sorted({str(n) for n in names if names.count(n) > 1})
    if dups:
        problems.append(
            Problem(
                "config", "questionnaires", f"duplicate name(s): {', '.join(dups)}", "list each name once", path=source
            )
        )
    clash = sorted({str(n) for n in names if n in outcome_names})
    if clash:
        problems.append(
            Problem(
                "config",
                "questionnaires",
                f"name(s) also used under outcomes: {', '.join(clash)}",
                "give the questionnaire outcome its own name (estimates.csv has one outcome column for both)",
                path=source,
            )
        )
    for i, q in enumerate(entries):
        role = q.get("role", "outcome")
        need = "measured_within_days" if role == "mediator" else "follow_up_days"
        if q.get(need) is None:
            what = "when it is measured (after the index date)" if role == "mediator" else "its follow-up"
            problems.append(
                Problem(
                    "config",
                    f"questionnaires[{i}]",
                    f"{q.get('name')!r} (role: {role}) has no {need}",
                    f"add {need}: the number of days that sets {what}",
                    path=source,
                )
            )
    if not (cfg.get("extract") or {}).get("responses"):
        problems.append(
            Problem(
                "config",
                "extract.responses",
                "questionnaires are configured but there is no responses table to score them from",
                "add extract.responses (path and columns client_id, questionnaire, item, response, response_date), "
                "or remove the questionnaires",
                path=source,
            )
        )
    return problems


def _mediation_problems(cfg: dict, source: str) -> list[Problem]:
    """``mediation.mediator`` names a questionnaires entry with role mediator."""
    mediator = (cfg.get("mediation") or {}).get("mediator") if isinstance(cfg.get("mediation"), dict) else None
    if mediator is None:
        return []
    entries = {q.get("name"): q.get("role", "outcome") for q in cfg.get("questionnaires") or [] if isinstance(q, dict)}
    if entries.get(mediator) == "mediator":
        return []
    mediators = sorted(str(n) for n, r in entries.items() if r == "mediator")
    if mediator in entries:
        message = f"{mediator!r} is a questionnaires entry with role: {entries[mediator]}, not a mediator"
    else:
        message = f"{mediator!r} is not among the questionnaires"
    hint = f" (configured mediators: {', '.join(mediators)})" if mediators else ""
    return [
        Problem(
            "config",
            "mediation.mediator",
            message + hint,
            "name a questionnaires entry with role: mediator and measured_within_days, or set mediator: null",
            path=source,
        )
    ]


def load_config(config: str | Path | Mapping[str, Any], source: str | None = None) -> dict:
    """Validate a study configuration and return it with every default filled in.

    Parameters
    ----------
    config
        A path to a YAML file or an already-loaded mapping (as Snakemake's ``config``).
    source
        How to name a mapping's origin in messages (e.g. the config file it came from).

    Raises
    ------
    ConfigError
        Listing every schema violation and cross-key inconsistency, each with the key and a fix.
    """
    if isinstance(config, (str, Path)):
        source = str(config)
        path = Path(config)
        if not path.is_file():
            raise ConfigError(
                [Problem("config", None, "file not found", "give the path of a YAML config file", path=source)],
                headline="cannot read the config",
            )
        try:
            cfg = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(
                [
                    Problem(
                        "config",
                        None,
                        f"not valid YAML: {exc}".replace("\n", " "),
                        "fix the YAML syntax at the position given",
                        path=source,
                    )
                ],
                headline="cannot read the config",
            ) from None
    else:
        source = source or "config"
        cfg = config
    cfg = copy.deepcopy(dict(cfg or {}))
    problems = _schema_problems(cfg, source) + _cross_problems(cfg, source) + _questionnaire_problems(cfg, source)
    problems += _mediation_problems(cfg, source)
    if problems:
        raise ConfigError(problems, headline="the configuration is invalid")
    return cfg
