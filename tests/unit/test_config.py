"""Config: schema errors name the key and the fix; defaults are filled; cross-key checks."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO
from deepvalue.core.config import load_config
from deepvalue.core.errors import ConfigError


def default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def config_problems(cfg) -> list:
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    return list(info.value.problems)


def test_default_config_is_valid_and_complete():
    cfg = load_config(REPO / "config" / "config.yaml")
    assert cfg["exposure"] == {"index": "upc", "threshold": 0.75, "window_contacts": 4, "window_max_days": 120}
    assert cfg["extract"]["date_format"] is None


def test_defaults_filled_for_missing_sections():
    cfg = default_config()
    del cfg["exposure"], cfg["seed"], cfg["synthetic"]
    for o in cfg["outcomes"]:
        o.pop("follow_up_days")
    out = load_config(cfg)
    assert out["exposure"]["window_contacts"] == 4 and out["exposure"]["threshold"] == 0.75
    assert out["seed"] == 20261125 and out["synthetic"] is None
    assert all(o["follow_up_days"] == 365 for o in out["outcomes"])
    assert out["extract"]["clients"]["sheet"] is None


@pytest.mark.parametrize(
    "mutate,key,text,fix",
    [
        (
            lambda c: c["exposure"].update(threshold=1.5),
            "exposure.threshold",
            "greater than the maximum",
            "between 0 and 1",
        ),
        (
            lambda c: c["exposure"].update(window_contacts=1),
            "exposure.window_contacts",
            "less than the minimum",
            "between 2 and 50",
        ),
        (lambda c: c["exposure"].update(index="upcc"), "exposure.index", "is not one of", "did you mean 'upc'"),
        (lambda c: c["outcomes"][0].update(type="binomial"), "outcomes[0].type", "is not one of", "binary"),
        (
            lambda c: c["exposure"].update(window_max_day=10),
            "exposure",
            "unknown key(s) 'window_max_day'",
            "did you mean 'window_max_days'",
        ),
        (
            lambda c: c["extract"]["clients"]["columns"].pop("site"),
            "extract.clients.columns",
            "'site' is a required property",
            "add 'site'",
        ),
        (
            lambda c: c["extract"]["clients"].update(path="clients.txt"),
            "extract.clients.path",
            "does not match",
            "matching",
        ),
        (lambda c: c.pop("covariates"), "(top level)", "'covariates' is a required property", "add 'covariates'"),
        (
            lambda c: c["extract"].update(extract_date="31/12/2025"),
            "extract.extract_date",
            "does not match",
            "matching",
        ),
    ],
)
def test_schema_errors_name_key_and_fix(mutate, key, text, fix):
    cfg = default_config()
    mutate(cfg)
    probs = config_problems(cfg)
    hit = [p for p in probs if p.column == key and text in p.message]
    assert hit, [p.render() for p in probs]
    assert fix in hit[0].fix


def test_all_problems_at_once():
    cfg = default_config()
    cfg["exposure"]["threshold"] = -1
    cfg["outcomes"][0]["follow_up_days"] = 0
    cfg["seed"] = "abc"
    keys = {p.column for p in config_problems(cfg)}
    assert {"exposure.threshold", "outcomes[0].follow_up_days", "seed"} <= keys


def test_duplicate_names_and_covariate_clash():
    cfg = default_config()
    cfg["outcomes"].append(copy.deepcopy(cfg["outcomes"][0]))
    cfg["covariates"].append({"name": "site", "type": "categorical"})
    msgs = [p.message for p in config_problems(cfg)]
    assert any("duplicate name(s): job_start" in m for m in msgs)
    assert any("'site' is also a mapped clients column" in m for m in msgs)


def test_outcome_recording_defaults_to_measured_and_events_is_read_into_settings():
    from deepvalue.core.settings import Settings

    cfg = default_config()
    cfg["outcomes"][0]["recorded"] = "events"
    cfg["outcomes"][2]["recorded"] = "events"
    out = load_config(cfg)
    assert [o["recorded"] for o in out["outcomes"]] == ["events", "measured", "events"]
    settings = Settings.from_sections(out)
    assert [o.recorded for o in settings.outcomes] == ["events", "measured", "events"]
    assert Settings.from_sections({"outcomes": [{"name": "x", "type": "binary"}]}).outcomes[0].recorded == "measured"
    cfg["outcomes"][0]["services"] = ["employment"]
    settings = Settings.from_sections(load_config(cfg))
    assert settings.outcomes[0].services == ("employment",) and settings.outcomes[1].services is None


def test_continuous_events_and_events_without_a_date_column_are_config_errors():
    cfg = default_config()
    cfg["outcomes"][1]["recorded"] = "events"  # income_gain_gbp, continuous
    problems = config_problems(cfg)
    assert [p.column for p in problems] == ["outcomes[1].recorded"]
    assert "is continuous and recorded as events" in problems[0].message
    assert "recorded: measured" in problems[0].fix

    cfg = default_config()
    cfg["outcomes"][0]["recorded"] = "events"
    cfg["outcomes"][2]["recorded"] = "measured"  # the default study records crisis_contacts as events too
    del cfg["extract"]["outcomes"]["columns"]["outcome_date"]
    problems = config_problems(cfg)
    assert [p.column for p in problems] == ["outcomes[0].recorded"]
    assert "no outcome_date" in problems[0].message

    cfg = default_config()
    cfg["outcomes"][0]["recorded"] = "event"
    (problem,) = config_problems(cfg)
    assert problem.column == "outcomes[0].recorded" and "did you mean 'events'" in problem.fix


def test_time_to_event_defaults_to_events_binary_outcomes_and_is_refused_elsewhere():
    from deepvalue.core.settings import Settings

    cfg = default_config()  # job_start: binary, events; crisis_contacts: count, events
    settings = Settings.from_sections(load_config(cfg))
    assert [o.time_to_event for o in settings.outcomes] == [True, False, False]
    cfg["outcomes"][0]["time_to_event"] = False
    assert not Settings.from_sections(load_config(cfg)).outcomes[0].time_to_event
    for i in (1, 2):  # continuous measured; count events
        cfg = default_config()
        cfg["outcomes"][i]["time_to_event"] = True
        (problem,) = config_problems(cfg)
        assert problem.column == f"outcomes[{i}].time_to_event" and "no time to a first occurrence" in problem.message


def test_missing_and_unreadable_config_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("extract: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_load_does_not_mutate_the_callers_mapping():
    cfg = default_config()
    del cfg["exposure"]
    load_config(cfg)
    assert "exposure" not in cfg


def _schema_keys(node, prefix=""):
    """Every property path of the schema, through allOf/oneOf and array items."""
    if not isinstance(node, dict):
        return
    for name, sub in (node.get("properties") or {}).items():
        yield f"{prefix}{name}"
        yield from _schema_keys(sub, f"{prefix}{name}.")
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in node.get(key) or []:
            yield from _schema_keys(sub, prefix)
    if isinstance(node.get("items"), dict):
        yield from _schema_keys(node["items"], prefix)


def test_config_readme_documents_every_key():
    from deepvalue.core.config import config_schema

    readme = (REPO / "config" / "README.md").read_text()
    leaves = {k.rsplit(".", 1)[-1] for k in _schema_keys(config_schema())}
    undocumented = sorted(
        k
        for k in leaves
        if f"`{k}`" not in readme
        and f"`extract.{k}`" not in readme
        and f".{k}`" not in readme
        and f"## {k}" not in readme
    )
    assert not undocumented
