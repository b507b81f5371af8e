"""Direct-identifier checks (issue 13, items 9 and 10): value formats, personal names by a first-name
list, category-typed Parquet columns, categorical covariates, whole-column refusal."""

from __future__ import annotations

import copy
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from deepvalue.core.errors import ExtractError
from deepvalue.core.settings import load_settings
from deepvalue.extract import identifiers
from deepvalue.extract.identifiers import identifier_column_kind, identifier_value_hits
from deepvalue.extract.ingest import ingest_extract

REPO = Path(__file__).resolve().parents[2]

# East London places (Newham, Tower Hamlets, Hackney, Waltham Forest, Redbridge, Barking and
# Dagenham), service and programme names, and category labels of the covariates an extract holds.
PLACES = [
    "Canning Town", "Forest Gate", "Manor Park", "West Ham", "East Ham", "Upton Park", "Green Street",
    "Little Ilford", "Custom House", "Royal Docks", "Royal Victoria", "Plaistow North", "Stratford and New Town",
    "Victoria Park", "Victoria Dock", "Bethnal Green", "Mile End", "Stepney Green", "Isle of Dogs", "Canary Wharf",
    "Bromley-by-Bow", "Island Gardens", "St Katharine's", "Hackney Wick", "Stoke Newington", "London Fields",
    "Kings Park", "Lea Bridge", "Wood Street", "Hale End", "Chapel End", "Hatch Lane", "Waltham Forest",
    "Chadwell Heath", "Seven Kings", "Gants Hill", "South Woodford", "Newbury Park", "Forest Hill", "Crystal Palace",
    "Queen's Market", "Romford Road", "Stanley Road", "Grace Court", "Hope Street", "Lincoln Road",
    "Kingston upon Thames", "Tower Hamlets", "Barking and Dagenham", "Elizabeth Line",
]  # fmt: skip
SERVICES = [
    "Employment Support", "Welfare Rights", "Into Work", "Debt Advice", "Housing Support", "Family Support",
    "Young People", "Job Club", "Skills Training", "Money Advice", "Work Programme", "Restart Scheme",
    "Universal Credit", "Drop In", "Outreach Team", "Job Centre Plus", "Access to Work", "Back to Work",
    "Fresh Start", "New Horizons", "Care Leavers", "Early Help", "Will Writing", "Hope Project", "Faith Group",
    "Summer School", "April Cohort", "Jack Petchey Foundation", "Dawn Centre", "Holly Lodge",
]  # fmt: skip
CATEGORIES = [
    "White British", "Black African", "Black Caribbean", "Asian Bangladeshi", "Mixed White and Asian",
    "Any other White background", "Prefer not to say", "Not known", "Don't know", "Gypsy or Irish Traveller",
    "Church of England", "Roman Catholic", "Council Tenant", "Private Rented", "Temporary Accommodation",
    "Long Term Unemployed", "Self Employed", "Self Referral", "Probation Service", "Word of Mouth", "Sierra Leone",
    "Ivory Coast", "Sri Lanka", "Hong Kong", "Saudi Arabia", "South Africa", "Costa Rica", "Saint Lucia",
    "Solomon Islands", "Dominican Republic", "United Kingdom", "Carers Allowance", "Lone Parent", "High Risk",
]  # fmt: skip
# the review's names, then more of the names an East London caseload holds
NAMES = [
    "Mary Smith", "SMITH, Mary", "Seán Murphy", "Mary O'Brien",
    "John Jones", "Priya Patel", "Mohammed Ahmed", "Fatima Begum", "Abdul Karim", "Shahida Begum",
    "Gurpreet Singh", "Oluwaseun Adeyemi", "Chinedu Okafor", "Kwame Mensah", "Tomasz Kowalski", "Andreea Popescu",
    "Siobhan O'Connor", "Niamh Kelly", "Rhys Davies", "Jean-Pierre Dubois", "Mary-Jane Watson", "Mrs Mary Smith",
    "Dr Amir Hussain", "Mr Smith", "Mary J. Smith", "mary smith", "MARY SMITH", "Smith, Mary Anne",
    "O'BRIEN, Sean", "Mary Smith (keyworker)", "Grace Taylor", "Mary O’Brien", "José García", "Zoë Ward",
]  # fmt: skip
# every format the review lists (test_ingest.py has the usual ones), and an address
FORMATS = [
    ("(020) 7946 0958", "phone number"),
    ("0044 7700 900123", "phone number"),
    ("447700900123", "phone number"),
    ("07700.900.123", "phone number"),
    ("QQ-12-34-56-C", "National Insurance number"),
    ("QQ 123 456 C", "National Insurance number"),
    ("SW1A  1AA", "full postcode"),
    ("SW1A-1AA", "full postcode"),
    ("sw1a 1aa.", "full postcode"),
    ("SW1A 1AA (home)", "full postcode"),
    ("Flat 2, 10 High Street, London E1 6AN", "full postcode"),
]
NOT_IDENTIFIERS = [
    "E1", "E14", "SW1A", "C000123", "W-0042", "K00001", "3f2a9c0d8e7b6a5f4e3d2c1b0a998877", "2024-03-01",
    "2024-03-01T10:00:00", "12.50", "0.123456789", "-3e2", "1,000", "18-24", "NA", "S01", "0000123456", "20240301",
]  # fmt: skip


def problems(cfg: dict) -> list:
    with pytest.raises(ExtractError) as info:
        ingest_extract(load_settings(cfg))
    return list(info.value.problems)


def on(probs, table: str, column: str):
    found = [p for p in probs if p.table == table and p.column == column]
    assert found, f"no problem for {table}/{column} in: {[p.render() for p in probs]}"
    return found[0]


def edit_clients(cfg: dict, fn, parquet: bool = False) -> None:
    path = Path(cfg["extract"]["clients"]["path"])
    read = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = fn(read)
    if parquet:
        path = path.with_suffix(".parquet")
        frame.to_parquet(path, index=False)
        cfg["extract"]["clients"]["path"] = str(path)
    else:
        frame.to_csv(path, index=False)


def with_keyworker(cfg: dict, values: list[str], parquet: bool = False) -> None:
    """Add a categorical covariate 'keyworker' to the clients table, cycling through `values`."""

    def add(f):
        f["keyworker"] = [values[i % len(values)] for i in range(len(f))]
        if parquet:
            f["keyworker"] = f["keyworker"].astype("category")
        return f

    edit_clients(cfg, add, parquet)
    cfg["covariates"].append({"name": "keyworker", "type": "categorical"})


# ----------------------------------------------------------------------------------------------
# values


@pytest.mark.parametrize("value,kind", FORMATS)
def test_identifier_formats_in_a_site_column_are_refused(tiny, value, kind):
    def bad(f):
        f.loc[6, "site"] = value
        return f

    edit_clients(tiny, bad)
    p = on(problems(tiny), "clients", "site")
    assert kind in p.message and p.rows == (8,) and p.count == 1


def test_pseudonyms_dates_numbers_and_codes_are_not_identifiers():
    # with `names` on, as for an id column; the place names too fail on the capitalisation rule it replaced
    values = pa.chunked_array([pa.array(NOT_IDENTIFIERS + ["Forest Gate", "Canning Town", "Into Work"])])
    assert identifier_value_hits(values, True) == {}


def test_place_programme_and_category_labels_are_not_names():
    labels = PLACES + SERVICES + CATEGORIES
    hits = identifier_value_hits(pa.chunked_array([pa.array(labels)]), True)
    assert {labels[i] for i in hits.get("personal name", [])} == set()


def test_personal_names_are_found_by_the_first_name_list():
    hits = identifier_value_hits(pa.chunked_array([pa.array(NAMES)]), True)
    found = set(hits.get("personal name", []))
    assert [n for i, n in enumerate(NAMES) if i not in found] == []


def test_categorical_covariate_of_worker_names_is_refused(tiny):
    labels = PLACES + SERVICES + CATEGORIES
    ok = copy.deepcopy(tiny)
    with_keyworker(ok, labels)  # place, programme and category labels pass
    assert ingest_extract(load_settings(ok)).tables["clients"]["keyworker"].nunique() == 40

    with_keyworker(tiny, ["Team A", "Team B", "Mary Smith", "Team C", "Team D"])
    p = on(problems(tiny), "clients", "keyworker")
    assert "personal name" in p.message and "the whole column is refused" in p.message
    assert p.count == 8 and p.rows == (4, 9, 14, 19, 24)  # every fifth client, from the third
    assert "replace the labels with codes" in p.fix


def test_names_are_not_looked_for_in_site_labels(tiny):
    # site and service labels may be named after a person ("Mary Seacole"): only the
    # e-mail, phone, NI and postcode checks apply to them
    def named(f):
        f["site"] = "Mary Seacole"
        return f

    edit_clients(tiny, named)
    with_keyworker(tiny, ["Mary Smith"])
    probs = problems(tiny)
    assert [p.column for p in probs] == ["keyworker"]


def test_worker_names_as_worker_ids_are_refused(tiny):
    path = Path(tiny["extract"]["contacts"]["path"])
    contacts = pd.read_csv(path, dtype=str)
    contacts["worker_id"] = (
        contacts["worker_id"].map({"W00": "SMITH, Mary", "W01": "Seán Murphy"}).fillna(contacts["worker_id"])
    )
    contacts.to_csv(path, index=False)
    p = on(problems(tiny), "contacts", "worker_id")
    assert "personal name" in p.message and p.count == int(contacts["worker_id"].str.contains(" ").sum())
    assert "pseudonymise every value" in p.fix


def test_whole_column_is_refused_with_a_count_and_example_rows(tiny):
    def bad(f):
        f.loc[[3, 10, 11, 20, 25, 30, 39], "ethnicity"] = ["07700 900123", "(020) 7946 0958"] * 3 + ["E1 6AN"]
        return f

    edit_clients(tiny, bad)
    probs = [p for p in problems(tiny) if p.column == "ethnicity"]
    assert len(probs) == 1  # one problem for the column, whatever kinds it holds
    p = probs[0]
    assert p.count == 7 and p.rows == (5, 12, 13, 22, 27)
    assert "phone number in 6 rows, full postcode in 1 row" in p.message
    assert "the whole column is refused" in p.message
    assert p.path == tiny["extract"]["clients"]["path"]


# ----------------------------------------------------------------------------------------------
# arrow types


def test_category_typed_parquet_columns_are_checked(tiny):
    """pandas `category` columns reach arrow as dictionary arrays, which the check used to skip."""
    leaks = ["jo.bloggs@example.org", "07700 900123", "QQ 12 34 56 C", "SW1A 1AA"]

    def categorical(f):
        f["site"] = pd.Categorical([leaks[i] if i < 4 else "S01" for i in range(len(f))])
        return f

    edit_clients(tiny, categorical, parquet=True)
    with_keyworker(tiny, ["Team A", "Mary Smith"], parquet=True)
    probs = problems(tiny)
    site = on(probs, "clients", "site")
    for kind in ("e-mail address", "phone number", "National Insurance number", "full postcode"):
        assert kind in site.message
    assert site.rows == (2, 3, 4, 5) and site.count == 4
    keyworker = on(probs, "clients", "keyworker")
    assert "personal name" in keyworker.message and keyworker.count == 20


def test_dictionary_string_view_and_large_string_match_like_plain_strings():
    values = ["S01", None, "SW1A 1AA", "Mary Smith", "S01", "07700 900123", None, "Mary Smith"]
    plain = identifier_value_hits(pa.chunked_array([pa.array(values)]), True)
    # two chunks with different dictionaries, so codes differ between chunks
    split = pa.chunked_array([pa.array(values[:3]).dictionary_encode(), pa.array(values[3:]).dictionary_encode()])
    for arr in (
        split,
        pa.chunked_array([pa.array(values, pa.large_string())]),
        pa.chunked_array([pa.array(values, pa.string_view())]),
    ):
        found = identifier_value_hits(arr, True)
        assert {k: v.tolist() for k, v in found.items()} == {k: v.tolist() for k, v in plain.items()}, arr.type
    assert {k: v.tolist() for k, v in plain.items()} == {
        "phone number": [5],
        "full postcode": [2],
        "personal name": [3, 7],
    }


def test_phone_numbers_stored_as_numbers_are_refused():
    mobiles = np.array([7700900123, 7700900456, 447700900789, 7911123456], dtype=np.int64)
    assert identifier_value_hits(pa.chunked_array([pa.array(mobiles)]))["phone number"].tolist() == [0, 1, 2, 3]
    as_float = pa.chunked_array([pa.array(mobiles.astype(float).tolist() + [None])])
    assert identifier_value_hits(as_float)["phone number"].size == 4
    as_text = pa.chunked_array([pa.array(["7700900123", "7700900456", "", None, "7911123456"])])
    assert identifier_value_hits(as_text)["phone number"].tolist() == [0, 1, 4]
    # ids, counts and money are not phone numbers, and neither is a lone phone-like number among ids
    assert identifier_value_hits(pa.chunked_array([pa.array(np.arange(1, 10_000))])) == {}
    assert identifier_value_hits(pa.chunked_array([pa.array([7700900123, 1, 2, 3])])) == {}
    assert identifier_value_hits(pa.chunked_array([pa.array([12.5, 7.7e9 + 0.5])])) == {}


# ----------------------------------------------------------------------------------------------
# column names and packaging


def test_date_of_birth_column_names():
    refused = ["client_dob", "birth_dt", "dob_client", "date_of_birth_client", "birthdate", "ClientDOB", "DateOfBirth"]
    assert {c: identifier_column_kind(c) for c in refused} == dict.fromkeys(refused, "date of birth")
    ordinary = ["start_date", "birth_cohort", "birth_year", "dob_year", "country_of_birth", "age", "age_band"]
    assert {c: identifier_column_kind(c) for c in ordinary} == dict.fromkeys(ordinary)


def test_date_of_birth_column_is_refused_in_ingest(tiny):
    def dob(f):
        f["client_dob"] = "1980-01-01"
        return f

    edit_clients(tiny, dob)
    p = on(problems(tiny), "clients", "client_dob")
    assert "date of birth" in p.message and "remove the column" in p.fix


def test_first_name_list_is_packaged_with_its_sources():
    data = Path(identifiers.__file__).parent / "data" / "first_names.txt"
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["deepvalue"]
    assert any(fnmatch("extract/data/first_names.txt", g) for g in globs)
    header = [line for line in data.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert any("ssa.gov" in line for line in header) and any("MIT" in line for line in header)
    names = identifiers.first_names().to_pylist()
    assert len(names) > 5000 and {"mary", "sean", "priya", "mohammed", "niamh"} <= set(names)
    assert all(n == n.lower() and n.isascii() for n in names)


def test_labels_the_user_checked_pass_the_name_check_only(tiny):
    # a ward named after a person is refused as a name until the user lists it under extract.not_names
    labels = ["Canning Town", "William Morris", "Forest Gate", "Mary Seacole House"]
    refused = copy.deepcopy(tiny)
    with_keyworker(refused, labels)
    p = on(problems(refused), "clients", "keyworker")
    assert "personal name" in p.message and "extract.not_names" in p.fix

    allowed = copy.deepcopy(tiny)
    with_keyworker(allowed, labels)
    allowed["extract"]["not_names"] = ["william  MORRIS", "Mary Seacole House"]  # folded like the values
    assert set(ingest_extract(load_settings(allowed)).tables["clients"]["keyworker"]) == set(labels)

    # the list exempts from the name check only: a listed value that is an e-mail address is still refused,
    # and a real name not on the list still refuses the column
    for extra, kind in (("mary.smith@example.org", "e-mail"), ("Mary Smith", "personal name")):
        other = copy.deepcopy(tiny)
        with_keyworker(other, [*labels, extra])
        other["extract"]["not_names"] = ["William Morris", "Mary Seacole House", "mary.smith@example.org"]
        assert kind in on(problems(other), "clients", "keyworker").message


def test_not_names_folds_accents_case_and_spaces():
    values = pa.chunked_array([pa.array(["Seán  Connolly", "Mary Smith"])])
    hits = identifier_value_hits(values, True, not_names=["sean connolly"])
    assert hits["personal name"].tolist() == [1]
