"""Ingestion: one test per kind of bad input (asserting the message), cleaning counts, formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from deepvalue.core.errors import ExtractError
from deepvalue.core.settings import load_settings
from deepvalue.extract.ingest import ingest_extract, parse_dates, write_interim


def problems(cfg: dict) -> list:
    with pytest.raises(ExtractError) as info:
        ingest_extract(load_settings(cfg))
    return list(info.value.problems)


def only(probs, table, column=None):
    found = [p for p in probs if p.table == table and (column is None or p.column == column)]
    assert found, f"no problem for {table}/{column} in: {[p.render() for p in probs]}"
    return found[0]


def edit(cfg: dict, table: str, fn) -> None:
    path = Path(cfg["extract"][table]["path"])
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    fn(frame).to_csv(path, index=False)


def test_valid_tiny_extract_ingests(tiny):
    extract = ingest_extract(load_settings(tiny))
    assert set(extract.tables) == {"clients", "contacts", "outcomes", "workers"}
    clients = extract.tables["clients"]
    assert len(clients) == 40
    assert clients["start_date"].dtype.kind == "M"
    assert clients["disability"].isin([0.0, 1.0]).all()
    assert extract.tables["contacts"]["contact_date"].dtype.kind == "M"
    for rep in extract.report["tables"].values():
        assert rep["rows_read"] == rep["rows_written"] + sum(d["rows"] for d in rep["dropped"])


def test_missing_file(tiny):
    Path(tiny["extract"]["contacts"]["path"]).unlink()
    p = only(problems(tiny), "contacts")
    assert "file not found" in p.message and "extract.contacts.path" in p.fix


def test_empty_table(tiny):
    Path(tiny["extract"]["outcomes"]["path"]).write_text("client_id,outcome,value,outcome_date\n")
    p = only(problems(tiny), "outcomes")
    assert "no data rows" in p.message


def test_missing_mapped_column(tiny):
    tiny["extract"]["clients"]["columns"]["site"] = "Site Name"
    p = only(problems(tiny), "clients", "Site Name")
    assert "mapped column for 'site' is not in the file" in p.message
    assert "did you mean 'site'" in p.fix


def test_unparseable_dates_name_rows_and_format_fix(tiny):
    def bad(f):
        f.loc[[2, 5], "start_date"] = ["03/02/2024", "not a date"]
        return f

    edit(tiny, "clients", bad)
    p = only(problems(tiny), "clients", "start_date")
    assert "unparseable dates" in p.message and "'03/02/2024'" in p.message
    assert p.rows == (4, 7) and p.count == 2  # spreadsheet rows: header is row 1
    assert "date_format" in p.fix


def test_date_format_option_reads_uk_dates(tiny):
    def uk(f):
        f["start_date"] = pd.to_datetime(f["start_date"]).dt.strftime("%d/%m/%Y")
        return f

    for table, col in (("clients", "start_date"),):
        edit(tiny, table, uk)

    # every date column must follow the one configured format
    def uk_dates(column):
        def fn(f):
            f[column] = pd.to_datetime(f[column], errors="coerce").dt.strftime("%d/%m/%Y").fillna("")
            return f

        return fn

    edit(tiny, "contacts", uk_dates("contact_date"))
    edit(tiny, "outcomes", uk_dates("outcome_date"))
    edit(tiny, "workers", uk_dates("end_date"))
    tiny["extract"]["date_format"] = "%d/%m/%Y"
    extract = ingest_extract(load_settings(tiny))
    assert extract.tables["clients"]["start_date"].notna().all()


def test_text_in_numeric_covariate(tiny):
    def bad(f):
        f.loc[0, "age"] = "forty"
        return f

    edit(tiny, "clients", bad)
    p = only(problems(tiny), "clients", "age")
    assert "text in a numeric covariate" in p.message and "'forty'" in p.message and p.rows == (2,)


def test_duplicate_client_ids(tiny):
    def bad(f):
        f.loc[3, "client_id"] = f.loc[1, "client_id"]
        return f

    edit(tiny, "clients", bad)
    p = only(problems(tiny), "clients", "client_id")
    assert "duplicate client ids" in p.message and p.rows == (3, 5) and p.count == 2


def test_binary_outcome_not_zero_one(tiny):
    def bad(f):
        f.loc[4, "value"] = "2"
        return f

    edit(tiny, "outcomes", bad)
    p = only(problems(tiny), "outcomes", "value")
    assert "binary outcome 'job_start' has values other than 0 and 1 (e.g. 2)" in p.message
    assert p.rows == (6,)


def events_extract(tiny: dict, rows: list[dict]) -> dict:
    """The tiny extract with job_start recorded as events, its outcomes table replaced by ``rows``."""
    pd.DataFrame(rows, columns=["client_id", "outcome", "value", "outcome_date"]).to_csv(
        tiny["extract"]["outcomes"]["path"], index=False
    )
    tiny["outcomes"][0]["recorded"] = "events"
    return tiny


def test_events_outcome_takes_several_rows_per_client_empty_values_and_counts_undated(tiny):
    cfg = events_extract(
        tiny,
        [
            {"client_id": "C0000", "outcome": "job_start", "value": "", "outcome_date": "2024-06-01"},
            {"client_id": "C0000", "outcome": "job_start", "value": "1", "outcome_date": "2024-08-01"},
            {"client_id": "C0001", "outcome": "job_start", "value": "1", "outcome_date": ""},
            {"client_id": "C0003", "outcome": "job_start", "value": "", "outcome_date": ""},
            {"client_id": "C0002", "outcome": "job_start", "value": "1", "outcome_date": "2024-07-01"},
            # the same occurrence twice (an empty value is a 1): an exact duplicate, dropped and counted
            {"client_id": "C0002", "outcome": "job_start", "value": "", "outcome_date": "2024-07-01"},
        ],
    )
    extract = ingest_extract(load_settings(cfg))
    out = extract.tables["outcomes"]
    assert out["value"].tolist() == [1.0] * 5
    assert out["client_id"].tolist() == ["C0000", "C0000", "C0001", "C0003", "C0002"]
    report = extract.report["tables"]["outcomes"]
    assert {d["reason"]: d["rows"] for d in report["dropped"]}["exact duplicate of an earlier outcome row"] == 1
    (warning,) = [w for w in report["warnings"] if "without an outcome_date" in w]
    assert "'job_start': 2 occurrences without an outcome_date (2 clients)" in warning
    assert "undated occurrence: timing unknown" in warning


def test_events_outcome_value_other_than_empty_or_one_is_refused_with_rows(tiny):
    cfg = events_extract(
        tiny,
        [
            {"client_id": "C0000", "outcome": "job_start", "value": "1", "outcome_date": "2024-06-01"},
            {"client_id": "C0001", "outcome": "job_start", "value": "2", "outcome_date": "2024-06-01"},
            {"client_id": "C0002", "outcome": "job_start", "value": "0", "outcome_date": "2024-06-01"},
        ],
    )
    p = only(problems(cfg), "outcomes", "value")
    assert "'job_start' is recorded as events" in p.message and "(e.g. 0, 2)" in p.message
    assert p.rows == (3, 4) and p.count == 2
    assert "recorded: measured" in p.fix


def test_measured_outcome_keeps_one_row_per_client_and_counts_undated_zeros(tiny):
    def twice(f):
        f = f.copy()
        f.loc[1, "outcome_date"] = ""
        f.loc[1, "value"] = "0"
        return pd.concat([f, f.iloc[[3]].assign(value="1" if f.loc[3, "value"] == "0" else "0")])

    edit(tiny, "outcomes", twice)
    p = only(problems(tiny), "outcomes", "client_id")
    assert "more than one differing row for the same client and outcome" in p.message
    assert "recorded: events" in p.fix

    def undated_zero(f):
        f = f.copy()
        f.loc[:2, "value"] = "0"
        f.loc[:2, "outcome_date"] = ""
        return f

    edit(tiny, "outcomes", lambda f: f.drop_duplicates("client_id"))
    edit(tiny, "outcomes", undated_zero)
    report = ingest_extract(load_settings(tiny)).report["tables"]["outcomes"]
    said = "'job_start': 3 rows with value 0 and no outcome_date, read as 'no event'"
    assert any(said in w for w in report["warnings"])


def test_outcome_services_naming_no_clients_service_is_refused(tiny):
    tiny["outcomes"][0]["services"] = ["employmnet"]
    p = only(problems(tiny), "clients", "service")
    assert "outcomes[0].services of 'job_start' names services no client has: 'employmnet'" in p.message
    assert "did you mean 'employment'" in p.fix
    tiny["outcomes"][0]["services"] = ["employment"]
    assert ingest_extract(load_settings(tiny)).tables["outcomes"]["outcome"].eq("job_start").all()


def test_configured_covariate_absent(tiny):
    tiny["covariates"].append({"name": "imd_decile", "type": "numeric"})
    p = only(problems(tiny), "clients", "imd_decile")
    assert "configured covariate is not a column" in p.message


def test_configured_outcome_absent(tiny):
    tiny["outcomes"].append({"name": "job_starts", "type": "binary"})
    p = only(problems(tiny), "outcomes", "outcome")
    assert "configured outcome 'job_starts' has no rows" in p.message and "did you mean 'job_start'" in p.fix


@pytest.mark.parametrize(
    "column,value,kind",
    [
        ("ethnicity", "jo.bloggs@example.org", "e-mail address"),
        ("ethnicity", "07700 900123", "phone number"),
        ("ethnicity", "QQ 12 34 56 C", "National Insurance number"),
        ("ethnicity", "E1 6AN", "full postcode"),
        ("client_id", "Mary Smith", "personal name"),
    ],
)
def test_direct_identifier_values(tiny, column, value, kind):
    def bad(f):
        f.loc[6, column] = value
        return f

    edit(tiny, "clients", bad)
    found = [p for p in problems(tiny) if p.column == column and kind in p.message]
    assert found, kind
    assert found[0].rows == (8,)


def test_postcode_district_is_allowed(tiny):
    def district(f):
        f["postcode_district"] = "E1"
        return f

    edit(tiny, "clients", district)
    ingest_extract(load_settings(tiny))


@pytest.mark.parametrize(
    "header,kind",
    [
        ("Surname", "personal name"),
        ("email", "e-mail address"),
        ("Mobile", "phone number"),
        ("NI Number", "National Insurance number"),
        ("date_of_birth", "date of birth"),
    ],
)
def test_direct_identifier_column_names(tiny, header, kind):
    def bad(f):
        f[header] = "x"
        return f

    edit(tiny, "clients", bad)
    p = only(problems(tiny), "clients", header)
    assert kind in p.message and "remove the column" in p.fix


def test_every_problem_reported_at_once(tiny):
    def bad_clients(f):
        f.loc[0, "age"] = "old"
        f.loc[1, "start_date"] = "yesterday"
        return f

    edit(tiny, "clients", bad_clients)

    def bad_outcomes(f):
        f.loc[0, "value"] = "7"
        return f

    edit(tiny, "outcomes", bad_outcomes)
    Path(tiny["extract"]["workers"]["path"]).unlink()
    probs = problems(tiny)
    assert {(p.table, p.column) for p in probs} >= {
        ("clients", "age"),
        ("clients", "start_date"),
        ("outcomes", "value"),
        ("workers", None),
    }


def test_cleaning_rules_are_counted(tiny):
    def messy(f):
        extra = f.iloc[[0, 1]].copy()  # exact duplicates
        unknown = f.iloc[[2]].assign(client_id="C9999", contact_id="K90001")
        early = f.iloc[[3]].assign(contact_date="2000-01-01", contact_id="K90002")
        future = f.iloc[[4]].assign(contact_date="2030-01-01", contact_id="K90003")
        return pd.concat([f, extra, unknown, early, future], ignore_index=True)

    edit(tiny, "contacts", messy)
    extract = ingest_extract(load_settings(tiny))
    rep = extract.report["tables"]["contacts"]
    dropped = {d["reason"]: d["rows"] for d in rep["dropped"]}
    assert dropped == {
        "exact duplicate of an earlier contact": 2,
        "client_id not in the clients table": 1,
        "contact before the client's start date": 1,
        "contact after the extract date (2025-06-30)": 1,
    }
    assert rep["rows_read"] == 205 and rep["rows_written"] == 200


def test_conflicting_contact_ids_are_an_error(tiny):
    def bad(f):
        f.loc[1, "contact_id"] = f.loc[0, "contact_id"]
        return f

    edit(tiny, "contacts", bad)
    p = only(problems(tiny), "contacts", "contact_id")
    assert "contact ids used for different contacts" in p.message and p.rows == (2, 3)


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_parquet_and_xlsx_read_like_csv(tiny, fmt):
    reference = ingest_extract(load_settings(tiny)).tables
    for table in ("clients", "contacts", "outcomes", "workers"):
        csv_path = Path(tiny["extract"][table]["path"])
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        new = csv_path.with_suffix(f".{fmt}")
        if fmt == "parquet":
            frame.to_parquet(new, index=False)
        else:
            frame.to_excel(new, index=False)
        tiny["extract"][table]["path"] = str(new)
    other = ingest_extract(load_settings(tiny)).tables
    for table, frame in reference.items():
        pd.testing.assert_frame_equal(frame, other[table], check_dtype=False)


def test_typed_parquet_dates_and_numbers(tiny):
    path = Path(tiny["extract"]["clients"]["path"])
    frame = pd.read_csv(path)
    frame["start_date"] = pd.to_datetime(frame["start_date"])
    frame.to_parquet(path.with_suffix(".parquet"), index=False)
    tiny["extract"]["clients"]["path"] = str(path.with_suffix(".parquet"))
    clients = ingest_extract(load_settings(tiny)).tables["clients"]
    assert clients["start_date"].min() >= pd.Timestamp("2024-01-01")
    assert clients["age"].dtype == float


def test_column_names_with_spaces(tiny):
    def rename(f):
        return f.rename(columns={"client_id": "Client Ref", "start_date": "Date Referred"})

    edit(tiny, "clients", rename)
    tiny["extract"]["clients"]["columns"].update({"client_id": "Client Ref", "start_date": "Date Referred"})
    assert len(ingest_extract(load_settings(tiny)).tables["clients"]) == 40


def test_iso_datetimes_are_accepted():
    dates, bad = parse_dates(pa.chunked_array([["2024-03-01", "2024-03-02T10:30:00", None, "2024-02-30"]]), None)
    assert dates.to_pylist()[:3] == [pd.Timestamp("2024-03-01").date(), pd.Timestamp("2024-03-02").date(), None]
    assert bad.tolist() == [3]


def test_write_interim_is_deterministic(tiny, tmp_path):
    outs = []
    for run in ("a", "b"):
        extract = ingest_extract(load_settings(tiny))
        write_interim(extract, tmp_path / run, tmp_path / run / "report.json")
        outs.append({p.name: p.read_bytes() for p in sorted((tmp_path / run).iterdir())})
    assert outs[0] == outs[1]
    assert json.loads(outs[0]["report.json"])["extract_date"] == "2025-06-30"


def test_cli_validate_exits_2_without_traceback(tiny, tmp_path):
    import yaml

    def bad(f):
        f.loc[0, "age"] = "forty"
        return f

    edit(tiny, "clients", bad)
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny))
    res = subprocess.run(
        [sys.executable, "-m", "deepvalue.cli", "validate", "--config", str(cfg_path)], capture_output=True, text=True
    )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "column 'age': text in a numeric covariate" in res.stderr and "fix:" in res.stderr


def test_cli_validate_reports_counts_on_a_good_extract(tiny, tmp_path):
    import yaml

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny))
    res = subprocess.run(
        [sys.executable, "-m", "deepvalue.cli", "validate", "--config", str(cfg_path)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert "contacts: 200 rows read, 200 kept, 0 dropped" in res.stdout


def test_identifier_values_found_alike_in_distinct_and_repeated_columns(monkeypatch):
    from deepvalue.extract import identifiers

    ids = [f"K{i:07d}" for i in range(3000)]
    ids[5], ids[2500] = "mary.smith@example.org", "AB 12 34 56 C"
    repeated = ["employment", "welfare"] * 1400 + ["SW1A 1AA"] + ["welfare"] * 199
    hits = {}
    for probe in (10, 100_000):  # a first slice of 10 distinct values, or all 3,000 values
        monkeypatch.setattr(identifiers, "DISTINCT_PROBE", probe)
        for name, values in (("ids", ids), ("repeated", repeated)):
            found = identifiers.identifier_value_hits(pa.chunked_array([pa.array(values)]), names=True)
            hits[probe, name] = {k: v.tolist() for k, v in found.items()}
    assert hits[10, "ids"] == hits[100_000, "ids"] == {"e-mail address": [5], "National Insurance number": [2500]}
    assert hits[10, "repeated"] == hits[100_000, "repeated"] == {"full postcode": [2800]}


def test_numbers_parse_alike_on_arrow_and_pandas_paths():
    from deepvalue.extract.ingest import parse_numbers

    clean = pa.chunked_array([pa.array([" 1", "2.5", None, "", "NaN", "-3e2", ".5"])])
    vals, bad = parse_numbers(clean)  # arrow parses all of it
    assert bad.size == 0
    assert vals[[0, 1, 5, 6]].tolist() == [1.0, 2.5, -300.0, 0.5] and pd.isna(vals[[2, 3, 4]]).all()
    dirty = pa.chunked_array([pa.array([" 1", "2.5", None, "1,000", "x", "-3e2"])])
    vals, bad = parse_numbers(dirty)  # arrow refuses, pandas names the bad rows
    assert bad.tolist() == [3, 4]
    assert vals[[0, 1, 5]].tolist() == [1.0, 2.5, -300.0]


def test_infinite_or_overflowing_numeric_covariate_is_refused(tiny):
    """Reliability item 14: inf, -Infinity and 1e308 passed validation and crashed the match stage."""

    def bad(frame):
        frame.loc[[1, 3, 5], "age"] = ["inf", "-Infinity", "1e308"]
        return frame

    edit(tiny, "clients", bad)
    p = only(problems(tiny), "clients", "age")
    text = p.render()
    assert p.rows == (3, 5, 7) and p.count == 3, text
    assert "infinite or implausibly large" in text or "text in a numeric covariate" in text


def test_dollar_signs_in_labels_are_plain_text(tmp_path):
    """Reliability item 15: a '$' in a site name crashed matplotlib's mathtext."""
    import numpy as np

    from deepvalue.cohort.figures import plot_share_continuous

    analysis = pd.DataFrame(
        {
            "site": ["Hub $x^$", "Office $\\frac$", "Hub $x^$", "Office $\\frac$"] * 5,  # invalid mathtext
            "service": "employment",
            "treatment": np.tile([1, 0], 10),
        }
    )
    out = tmp_path / "share.png"
    plot_share_continuous(analysis, out)
    assert out.stat().st_size > 0


def test_dates_with_a_utc_offset_keep_their_local_calendar_date():
    """Reliability item 4: 2021-01-04T10:00:00+01:00 parsed as 3 January (converted to UTC first)."""
    import datetime as dt

    values, bad = parse_dates(
        pa.chunked_array([["2021-01-04T10:00:00+01:00", "2021-01-04T00:30:00+01:00", "2021-01-05", None]]), None
    )
    assert values.to_pylist() == [dt.date(2021, 1, 4), dt.date(2021, 1, 4), dt.date(2021, 1, 5), None]
    assert bad.size == 0


def test_mixed_utc_offsets_are_refused_with_a_message(tiny):
    def mixed(frame):
        frame.loc[0, "start_date"] = frame.loc[0, "start_date"] + "T10:00:00Z"
        frame.loc[2, "start_date"] = frame.loc[2, "start_date"] + "T10:00:00+05:00"
        return frame

    edit(tiny, "clients", mixed)
    p = only(problems(tiny), "clients", "start_date")
    assert "different UTC offsets (+05:00, Z" in p.render() and p.rows == (2, 4)
