"""`deepvalue init` (issue 18): configs written for extracts it has not seen.

The extracts of tests/init_extracts/ are the synthetic generator's tables as three systems
might export them (tests/init_extracts/make_extracts.py); expected.yaml holds the renames the
generator made, so the mapping init finds is compared with where each column really went.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from conftest import REPO
from deepvalue.cli import main
from deepvalue.core.errors import ConfigError
from deepvalue.core.settings import load_settings
from deepvalue.extract.ingest import ingest_extract
from deepvalue.extract.profile import detect_date_format, normalise_name
from deepvalue.pipeline.init_columns import ROLES, name_score
from deepvalue.pipeline.init_config import init_study

EXTRACTS = REPO / "tests" / "init_extracts"
FILES = {
    "crm_csv": {t: f"{t}.csv" for t in ("clients", "contacts", "outcomes", "workers")},
    "xlsx_parquet": {
        "clients": "clients.xlsx",
        "contacts": "contacts.csv",
        "outcomes": "outcomes.parquet",
        "workers": "workers.parquet",
    },
    "cp1252_events": {t: f"{t}.csv" for t in ("clients", "contacts", "outcomes")},
    "ambiguous": {t: f"{t}.csv" for t in ("clients", "contacts", "outcomes")},
}


def run_init(case: str, tmp_path: Path):
    tables = {t: EXTRACTS / case / f for t, f in FILES[case].items()}
    return init_study(tables, tmp_path / "study.yaml")


@pytest.mark.parametrize("case", ["crm_csv", "xlsx_parquet", "cp1252_events"])
def test_init_maps_every_column_and_the_config_validates(case, tmp_path):
    expected = yaml.safe_load((EXTRACTS / case / "expected.yaml").read_text())
    result = run_init(case, tmp_path)
    for table, columns in expected["columns"].items():
        assert result.mappings[table].columns == columns, table
    assert {c.name: c.type for c in result.covariates if c.use} == expected["covariates"]
    assert {o.name: [o.type, o.recorded] for o in result.outcomes} == expected["outcomes"]
    # the config validates and its extract ingests, as `deepvalue validate` checks it
    settings = load_settings(result.config_path)
    extract = ingest_extract(settings)
    assert len(extract.tables["clients"]) == 80
    assert not [c for c in result.checks if not c.key.startswith("values.")], result.checks
    assert main(["validate", "--config", str(result.config_path)]) == 0


def test_init_finds_the_layouts(tmp_path):
    text = run_init("cp1252_events", tmp_path).config_text
    assert "encoding: cp1252" in text and 'delimiter: ";"' in text and 'decimal: ","' in text
    assert 'date_format: "%m/%d/%Y"' in text  # month-first, read from days above 12
    text = run_init("xlsx_parquet", tmp_path / "b").config_text
    assert "skip_rows: 1" in text and 'delimiter: "\\t"' in text
    text = run_init("crm_csv", tmp_path / "c").config_text
    assert 'date_format: "%d/%m/%Y"' in text


def test_init_events_get_their_services(tmp_path):
    outcomes = {o.name: o for o in run_init("cp1252_events", tmp_path).outcomes}
    assert outcomes["job_start"].services == ("employment",)
    assert outcomes["crisis_contacts"].services is None
    assert outcomes["income_gain_gbp"].services == ("welfare_advice",)


def test_init_marks_what_it_cannot_decide(tmp_path, capsys):
    expected = yaml.safe_load((EXTRACTS / "ambiguous" / "expected.yaml").read_text())["checks"]
    result = run_init("ambiguous", tmp_path)
    keys = [c.key for c in result.checks]
    for key in expected:
        assert key in keys, key
    marks = [ln for ln in result.config_text.splitlines() if "# CHECK:" in ln]
    assert len(marks) == len([c for c in result.checks if not c.key.startswith("values.")])
    # the comments as one text (a long CHECK is wrapped over lines)
    flat = " ".join(ln.strip().lstrip("#").strip() for ln in result.config_text.splitlines())
    assert "chose 'office', but 'team' is as likely" in flat
    assert "chose 'adviser', but 'caseworker' is as likely" in flat
    assert "day-first is assumed (UK); if the system writes months first" in flat
    assert '# - {name: "exit_reason"' in result.config_text  # written, but commented out
    assert result.mappings["clients"].columns["service"] == "category"  # by content
    # still a config the schema accepts, and the CLI prints every check
    load_settings(result.config_path)
    assert main(["init", *_args("ambiguous"), "--out", str(tmp_path / "cli.yaml")]) == 0
    out = capsys.readouterr().out
    assert all(key in out for key in expected)


def _args(case: str) -> list[str]:
    return [a for t, f in FILES[case].items() for a in (f"--{t}", str(EXTRACTS / case / f))]


def test_init_does_not_overwrite(tmp_path):
    run_init("crm_csv", tmp_path)
    with pytest.raises(ConfigError, match="does not overwrite"):
        run_init("crm_csv", tmp_path)
    assert main(["init", *_args("crm_csv"), "--out", str(tmp_path / "study.yaml")]) == 2


def test_values_stub_lists_the_outcomes_and_validates(tmp_path):
    from deepvalue.value.values_file import load_values

    result = run_init("ambiguous", tmp_path)
    values = load_values(result.values_path, [o.name for o in result.outcomes])
    assert list(values["outcomes"]) == [o.name for o in result.outcomes]
    assert values["outcomes"]["wellbeing_points"]["unit_value_gbp"] == 0
    assert all(v["illustrative"] for v in values["outcomes"].values())
    assert yaml.safe_load(result.config_text)["value"]["file"] == str(result.values_path)


@pytest.mark.parametrize(
    ("values", "fmt", "ambiguous"),
    [
        (["2024-03-01", "2024-12-31"], None, False),
        (["01/03/2024", "31/12/2024"], "%d/%m/%Y", False),
        (["03/01/2024", "12/31/2024"], "%m/%d/%Y", False),
        (["01/03/2024", "11/12/2024"], "%d/%m/%Y", True),
        (["3 Feb 2024", "28 Mar 2024"], "%d %b %Y", False),
    ],
)
def test_date_formats(values, fmt, ambiguous):
    found = detect_date_format(pa.chunked_array([values]))
    assert (found.fmt, found.ambiguous) == (fmt, ambiguous)


def test_not_dates():
    assert detect_date_format(pa.chunked_array([["2021", "40"]])) is None
    assert detect_date_format(pa.chunked_array([["31/31/2024"]])) is None


@pytest.mark.parametrize(
    ("name", "table", "canon", "score"),
    [
        ("Key Worker", "contacts", "worker_id", 3),
        ("Caseworker", "contacts", "worker_id", 3),
        ("Officer", "contacts", "worker_id", 3),
        ("Staff ID", "workers", "worker_id", 3),
        ("Hub", "clients", "site", 3),
        ("Branch", "clients", "site", 3),
        ("Team", "clients", "site", 3),
        ("Service Line", "clients", "service", 3),
        ("Stream", "clients", "service", 3),
        ("Project", "clients", "service", 3),
        ("Client Ref", "clients", "client_id", 3),
        ("Age", "clients", "site", 0),
    ],
)
def test_names_case_systems_use(name, table, canon, score):
    role = next(r for r in ROLES[table] if r.canon == canon)
    assert name_score(normalise_name(name), role) == score


def test_a_responses_table_is_mapped_and_left_out_until_the_schema_has_it(tmp_path):
    import pandas as pd

    from deepvalue.core.config import config_schema

    ids = pd.read_csv(EXTRACTS / "crm_csv" / "clients.csv")["Client Ref"]
    responses = pd.DataFrame(
        {
            "Client Ref": ids.repeat(3).to_numpy(),
            "Questionnaire": "gse",
            "Question": [f"q{i % 3 + 1}" for i in range(3 * len(ids))],
            "Answer": [i % 4 + 1 for i in range(3 * len(ids))],
            "Completed Date": "2021-03-01",
        }
    )
    responses.to_csv(tmp_path / "responses.csv", index=False)
    tables = {t: EXTRACTS / "crm_csv" / f for t, f in FILES["crm_csv"].items()}
    result = init_study({**tables, "responses": tmp_path / "responses.csv"}, tmp_path / "study.yaml")
    assert result.mappings["responses"].columns == {
        "client_id": "Client Ref",
        "questionnaire": "Questionnaire",
        "item": "Question",
        "response": "Answer",
        "response_date": "Completed Date",
    }
    live = "responses" in config_schema()["properties"]["extract"]["properties"]
    written = yaml.safe_load(result.config_text)["extract"]
    assert ("responses" in written) == live
    if not live:  # mapped, written commented out, and said
        assert "extract.responses" in [c.key for c in result.checks]
        assert '  #     client_id:        "Client Ref"' in result.config_text  # indented as if live
        assert "  # responses:\n  #   path: " in result.config_text
    load_settings(result.config_path)


BROKEN = REPO / "tests" / "broken_extracts"


@pytest.mark.parametrize(
    ("clients", "layout"),
    [
        ("xlsx_readme_first/clients.xlsx", 'sheet: "Clients"'),
        ("title_above_header/clients.csv", "skip_rows: 1"),
        ("semicolon_delimited/clients.csv", 'delimiter: ";"'),
        ("encoding_cp1252/clients.csv", "encoding: cp1252"),
    ],
)
def test_init_reads_the_exports_that_validate_refuses(clients, layout, tmp_path):
    """The export problems of tests/broken_extracts/ that a layout key fixes: init finds the key."""
    tables = {"clients": BROKEN / clients, **{t: BROKEN / "base" / f"{t}.csv" for t in ("contacts", "outcomes")}}
    result = init_study(tables, tmp_path / "study.yaml")
    assert layout in result.config_text
    assert result.mappings["clients"].columns == {c: c for c in ("client_id", "service", "site", "start_date")}
    ingest_extract(load_settings(result.config_path))


def test_excel_serial_dates_are_mapped_and_marked(tmp_path):
    tables = {
        "clients": BROKEN / "xlsx_excel_serial_dates" / "clients.xlsx",
        **{t: BROKEN / "base" / f"{t}.csv" for t in ("contacts", "outcomes")},
    }
    result = init_study(tables, tmp_path / "study.yaml")
    assert result.mappings["clients"].columns["start_date"] == "start_date"
    check = next(c for c in result.checks if c.key == "extract.clients.columns.start_date")
    assert "Excel serial day numbers" in check.message


def test_unreadable_tables_are_user_errors(tmp_path, capsys):
    from deepvalue.core.errors import ExtractError

    tsv = tmp_path / "clients.tsv"
    tsv.write_text("a\tb\n1\t2\n")
    tables = {"clients": tsv, **{t: BROKEN / "base" / f"{t}.csv" for t in ("contacts", "outcomes")}}
    with pytest.raises(ExtractError, match=r"rename the file to clients\.csv"):
        init_study(tables, tmp_path / "study.yaml")
    args = ["--contacts", str(BROKEN / "base" / "contacts.csv"), "--outcomes", str(BROKEN / "base" / "outcomes.csv")]
    assert main(["init", "--clients", str(tmp_path / "none.csv"), *args, "--out", str(tmp_path / "s.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert not (tmp_path / "s.yaml").exists()


def test_identifier_columns_are_marked(tmp_path):
    import pandas as pd

    clients = pd.read_csv(BROKEN / "base" / "clients.csv", dtype=str)
    clients["Email"] = [f"person{i}@example.org" for i in range(len(clients))]
    clients["notes"] = [f"07700 900{i:03d}" for i in range(len(clients))]
    clients.to_csv(tmp_path / "clients.csv", index=False)
    tables = {
        "clients": tmp_path / "clients.csv",
        **{t: BROKEN / "base" / f"{t}.csv" for t in ("contacts", "outcomes")},
    }
    result = init_study(tables, tmp_path / "study.yaml")
    marked = [c.message for c in result.checks if c.key == "extract.clients.columns"]
    assert any("'Email' looks like a direct identifier (e-mail address)" in m for m in marked)
    assert any("'notes' looks like a direct identifier (phone number)" in m for m in marked)
    assert not {"Email", "notes"} & {c.name for c in result.covariates}
