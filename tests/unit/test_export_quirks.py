"""Ordinary export quirks (issue 13, items 5 and 11-14): the broken extracts of
tests/broken_extracts/ each give one clear message and exit 2 (or, for the warn_ cases, a
warning and exit 0); the reading options (encoding, delimiter, decimal, skip_rows, per-table
date_format, missing_values) read what they say; row numbers survive blank lines."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepvalue import cli
from deepvalue.core.errors import ExtractError
from deepvalue.core.settings import load_settings
from deepvalue.extract.ingest import ingest_extract
from deepvalue.extract.read import parse_numbers, read_raw_table

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "broken_extracts"
ALL = sorted(p.name for p in CASES.iterdir() if (p / "config.yaml").is_file())


def _validate(capsys, *configs: str) -> tuple[int, str, str]:
    rc = cli.main(["validate", "--config", *configs])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_the_folder_holds_the_cases():
    assert len(ALL) >= 14
    assert sum(name.startswith("warn_") for name in ALL) >= 3


@pytest.mark.parametrize("name", ALL)
def test_each_broken_extract_gives_its_message(name, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    expected = [ln for ln in (CASES / name / "expected.txt").read_text().splitlines() if ln]
    rc, out, err = _validate(capsys, f"tests/broken_extracts/{name}/config.yaml")
    assert "Traceback" not in out + err
    if name.startswith("warn_"):
        assert rc == 0, err
        text = out
    else:
        assert rc == 2, out
        text = err
        # one message for the one problem of the case, naming the file
        assert re.search(r"\(1 problem\)", err), err
        assert f"tests/broken_extracts/{name}/" in err
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in:\n{text}"


def test_validate_on_the_folder_reports_every_case_and_exits_2(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    rc, out, err = _validate(capsys, "tests/broken_extracts")
    broken = [n for n in ALL if not n.startswith("warn_")]
    assert rc == 2
    assert f"{len(ALL) - len(broken)} of {len(ALL)} configs valid" in err
    for name in broken:
        assert f"tests/broken_extracts/{name}/config.yaml:\n" in err


def test_semicolons_decimal_commas_and_utf16_read_the_same_numbers(monkeypatch):
    monkeypatch.chdir(ROOT)
    quirky = ingest_extract(load_settings(CASES / "warn_semicolons_configured" / "config.yaml"))
    plain = ingest_extract(load_settings(CASES / "warn_missing_tokens_dates_constant" / "config.yaml"))
    pd.testing.assert_series_equal(quirky.tables["outcomes"]["value"], plain.tables["outcomes"]["value"])
    pd.testing.assert_frame_equal(quirky.tables["workers"], plain.tables["workers"])
    assert quirky.tables["outcomes"]["value"].max() > 100  # 978,39 was read as 978.39, not 97839


def test_decimal_comma_numbers():
    import pyarrow as pa

    vals, bad = parse_numbers(pa.chunked_array([["1,5", "1.234,5", "", "x"]]), decimal=",")
    assert vals[:2].tolist() == [1.5, 1234.5] and np.isnan(vals[2]) and bad.tolist() == [3]


def test_cp1252_reads_with_its_encoding(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("id,site\n1,Café\n".encode("cp1252"))
    assert read_raw_table(path, encoding="cp1252").table.column("site").to_pylist() == ["Café"]


def test_row_numbers_count_blank_lines_and_lines_above_the_header(tiny):
    path = Path(tiny["extract"]["clients"]["path"])
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace(lines[4].split(",")[3], "not a date")  # data row 4, file line 5
    # a title and a blank line above the header, a blank line after data row 2
    path.write_text("\n".join(["Clients export", ""] + lines[:3] + [""] + lines[3:]) + "\n")
    tiny["extract"]["clients"]["skip_rows"] = 1
    with pytest.raises(ExtractError) as err:
        ingest_extract(load_settings(tiny))
    (p,) = err.value.problems
    assert "unparseable dates" in p.message and p.rows == (8,)
    assert path.read_text().splitlines()[7].count("not a date") == 1  # line 8 of the file


def test_missing_tokens_are_configurable_and_counted(tiny):
    edit = Path(tiny["extract"]["clients"]["path"])
    frame = pd.read_csv(edit, dtype=str, keep_default_na=False)
    frame.loc[:2, "site"] = "NA"
    frame.to_csv(edit, index=False)
    tiny["extract"]["missing_values"] = ["NULL"]  # NA is a real site here
    extract = ingest_extract(load_settings(tiny))
    assert (extract.tables["clients"]["site"] == "NA").sum() == 3
    tiny["extract"]["clients"]["missing_values"] = ["NA"]  # the table's own list wins
    with pytest.raises(ExtractError, match="site is empty"):
        ingest_extract(load_settings(tiny))


def test_xlsx_date_cells_beside_day_month_csv_dates(tiny, tmp_path):
    # clients in a workbook with real date cells; contacts as dd/mm/yyyy text
    clients = pd.read_csv(tiny["extract"]["clients"]["path"], dtype=str, keep_default_na=False)
    expected = pd.to_datetime(clients["start_date"])
    clients["start_date"] = expected
    book = tmp_path / "clients.xlsx"
    clients.to_excel(book, index=False)
    tiny["extract"]["clients"]["path"] = str(book)
    contacts_path = Path(tiny["extract"]["contacts"]["path"])
    contacts = pd.read_csv(contacts_path, dtype=str, keep_default_na=False)
    iso = pd.to_datetime(contacts["contact_date"])
    contacts["contact_date"] = iso.dt.strftime("%d/%m/%Y")
    contacts.to_csv(contacts_path, index=False)
    tiny["extract"]["contacts"]["date_format"] = "%d/%m/%Y"
    extract = ingest_extract(load_settings(tiny))
    assert extract.tables["clients"]["start_date"].tolist() == expected.tolist()
    assert len(extract.tables["contacts"]) > 0
