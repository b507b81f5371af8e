"""Write the broken extracts of tests/broken_extracts/ (issue 13): one folder per case, each with
a config.yaml over the shared base tables and the one file the case breaks, and expected.txt,
one line per problem that `deepvalue validate` must report (a fragment of its message).

Cases whose folder name starts with ``warn_`` are valid extracts with a quirk that must be said
(a warning), not refused; their expected.txt lines are looked for in validate's output.

Run from the repository root to rebuild them (the files are committed; this records how they
were made):

    .venv/bin/python tests/broken_extracts/make_cases.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
REL = Path("tests/broken_extracts")  # configs name files relative to the repository root
BASE = HERE / "base"

COLUMNS = {
    "clients": {"client_id": "client_id", "service": "service", "site": "site", "start_date": "start_date"},
    "contacts": {
        "client_id": "client_id",
        "worker_id": "worker_id",
        "contact_date": "contact_date",
        "contact_id": "contact_id",
    },
    "outcomes": {"client_id": "client_id", "outcome": "outcome", "value": "value", "outcome_date": "outcome_date"},
    "workers": {"worker_id": "worker_id", "site": "site", "start_date": "start_date", "end_date": "end_date"},
}
COVARIATES = [
    {"name": "age", "type": "numeric"},
    {"name": "sex", "type": "categorical"},
    {"name": "disability", "type": "binary"},
    {"name": "n_issues", "type": "numeric"},
    {"name": "ethnicity", "type": "categorical"},
]
OUTCOMES = [
    {"name": "job_start", "type": "binary", "follow_up_days": 182},
    {"name": "income_gain_gbp", "type": "continuous", "follow_up_days": 365},
    {"name": "crisis_contacts", "type": "count", "follow_up_days": 365},
]


def base(table: str) -> pd.DataFrame:
    return pd.read_csv(BASE / f"{table}.csv", dtype=str, keep_default_na=False)


def case(name: str, expected: list[str], files: dict | None = None, extract: dict | None = None, **config) -> None:
    """One case folder: its files (table -> (file name, writer)), config and expected messages."""
    folder = HERE / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    tables = {}
    for table in COLUMNS:
        tables[table] = {"path": str(REL / "base" / f"{table}.csv"), "columns": dict(COLUMNS[table])}
    for table, (file_name, write, *spec) in (files or {}).items():
        write(folder / file_name)
        tables[table]["path"] = str(REL / name / file_name)
        if spec:
            tables[table].update(spec[0])
    cfg = {
        "extract": {**tables, "extract_date": "2025-08-01", **(extract or {})},
        "covariates": config.pop("covariates", COVARIATES),
        "outcomes": OUTCOMES,
        "seed": 1,
        **config,
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (folder / "expected.txt").write_text("".join(line + "\n" for line in expected))


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


RESPONSE_COLUMNS = {c: c for c in ("client_id", "questionnaire", "item", "response", "response_date")}
QUESTIONNAIRES = [
    {
        "name": "wellbeing",
        "instrument": "swemwbs",
        "questionnaire": "SWEMWBS",
        "items": [f"q{j}" for j in range(1, 8)],
        "follow_up_days": 182,
    },
    {"name": "life_satisfaction", "instrument": "ons4_life_satisfaction", "questionnaire": "ONS4",
     "items": ["life_satisfaction"], "follow_up_days": 182},
]  # fmt: skip


def responses_base(clients: pd.DataFrame) -> pd.DataFrame:
    """SWEMWBS (q1-q7, 1-5) and ONS4 life satisfaction (0-10) at each of the first 20 clients' start."""
    rows = []
    for i, (cid, start) in enumerate(zip(clients["client_id"].head(20), clients["start_date"].head(20), strict=True)):
        rows += [(cid, "SWEMWBS", f"q{j}", str((i + j) % 5 + 1), start) for j in range(1, 8)]
        rows.append((cid, "ONS4", "life_satisfaction", str(i % 11), start))
    return pd.DataFrame(rows, columns=list(RESPONSE_COLUMNS))


def responses_case(name: str, expected: list[str], frame: pd.DataFrame) -> None:
    """A case whose responses table is `frame` (the other tables are the base ones)."""
    table = {"path": str(REL / name / "responses.csv"), "columns": dict(RESPONSE_COLUMNS)}
    case(name, expected, {}, extract={"responses": table}, questionnaires=QUESTIONNAIRES)
    (HERE / name / "responses.csv").write_text(csv_text(frame))


def main() -> None:
    for folder in HERE.iterdir():
        if folder.is_dir() and folder.name != "base":
            shutil.rmtree(folder)
    clients, contacts, outcomes = base("clients"), base("contacts"), base("outcomes")

    # 11. Windows-1252: an accented site name from an Excel "CSV" export on Windows
    accented = clients.assign(ethnicity=lambda d: d["ethnicity"].where(d.index != 6, "Café owner"))
    case(
        "encoding_cp1252",
        ["the file is not UTF-8: byte 0xe9 on line 8", "encoding: cp1252"],
        {"clients": ("clients.csv", lambda p: p.write_bytes(csv_text(accented).encode("cp1252")))},
    )
    # 11. semicolons (and decimal commas) without the delimiter key
    case(
        "semicolon_delimited",
        ["looks semicolon-separated", 'delimiter: ";"'],
        {"clients": ("clients.csv", lambda p: p.write_text(clients.to_csv(index=False, sep=";")))},
    )
    # 14. a title line above the header
    case(
        "title_above_header",
        ["looks like a title above the header", "skip_rows: 1"],
        {"clients": ("clients.csv", lambda p: p.write_text("Client export, 30/11/2025\n" + csv_text(clients)))},
    )

    # 12. XLSX: a README first sheet; a sheet name that is not there; Excel serial day numbers
    def workbook(path: Path, serial: bool = False) -> None:
        frame = clients.copy()
        if serial:
            days = (pd.to_datetime(frame["start_date"]) - pd.Timestamp("1899-12-30")).dt.days
            frame["start_date"] = days
        else:
            frame["start_date"] = pd.to_datetime(frame["start_date"])
        with pd.ExcelWriter(path, engine="openpyxl") as xl:
            pd.DataFrame({"About this export": ["Clients, anonymised", "Exported 2025-08-01"]}).to_excel(
                xl, sheet_name="README", index=False
            )
            frame.to_excel(xl, sheet_name="Clients", index=False)

    case(
        "xlsx_readme_first",
        ["are not on the sheet read (the first) but on sheet 'Clients'"],
        {"clients": ("clients.xlsx", workbook)},
    )
    case(
        "xlsx_wrong_sheet",
        ["the workbook has no sheet 'Client'", "did you mean 'Clients'?"],
        {"clients": ("clients.xlsx", workbook, {"sheet": "Client"})},
    )
    case(
        "xlsx_excel_serial_dates",
        ["Excel serial day numbers (44207 = 2021-01-11)"],
        {"clients": ("clients.xlsx", lambda p: workbook(p, serial=True), {"sheet": "Clients"})},
    )
    # 4. mixed UTC offsets
    mixed = contacts.copy()
    mixed["contact_date"] = mixed["contact_date"] + "T10:00:00" + pd.Series(["Z", "+05:00"] * len(mixed))[: len(mixed)]
    case(
        "mixed_utc_offsets",
        ["dates with different UTC offsets (+05:00, Z"],
        {"contacts": ("contacts.csv", lambda p: p.write_text(csv_text(mixed)))},
    )
    # 14. infinite and overflowing numbers
    huge = clients.assign(age=lambda d: d["age"].where(~d.index.isin([2, 9]), "inf").where(d.index != 4, "1e308"))
    case(
        "infinite_numbers",
        ["infinite or implausibly large values (e.g. 'inf', '1e308'"],
        {"clients": ("clients.csv", lambda p: p.write_text(csv_text(huge)))},
    )
    # 13. no contact matches a client (ids lower-cased by the export)
    lower = contacts.assign(client_id=lambda d: d["client_id"].str.lower())
    case(
        "no_contact_matches_a_client",
        ["no contacts row's client_id matches a client", "match a client once case and leading zeros are ignored"],
        {"contacts": ("contacts.csv", lambda p: p.write_text(csv_text(lower)))},
    )
    # 5. a broken values file stops before anything runs
    bad_values = yaml.safe_load((HERE.parents[1] / "config" / "values.yaml").read_text())
    bad_values["discount_rate"] = -0.01
    case(
        "values_file_broken",
        ["the values file is invalid", "discount_rate"],
        {},
        value={"file": str(REL / "values_file_broken" / "values.yaml")},
    )
    (HERE / "values_file_broken" / "values.yaml").write_text(yaml.safe_dump(bad_values, sort_keys=False))

    # 9. a categorical covariate holding worker names
    keyworker = clients.assign(keyworker=["Mary Smith", "John O'Brien", "Seán Murphy"] * (len(clients) // 3))
    case(
        "identifier_names_in_a_covariate",
        ["column 'keyworker': values look like a direct identifier (personal name)", "whole column is refused"],
        {"clients": ("clients.csv", lambda p: p.write_text(csv_text(keyworker)))},
        covariates=COVARIATES + [{"name": "keyworker", "type": "categorical"}],
    )
    # 10. a Parquet column of pandas category type holding e-mails, phones and postcodes
    contact = clients.assign(
        ethnicity=pd.Categorical(["mary@example.org", "(020) 7946 0958", "SW1A  1AA", "White"] * (len(clients) // 4))
    )
    case(
        "identifier_category_parquet",
        ["column 'ethnicity': values look like a direct identifier", "whole column is refused"],
        {"clients": ("clients.parquet", lambda p: contact.to_parquet(p, index=False))},
    )

    # ---- valid extracts whose quirks must be said
    # 13. leading zeros lost for some contacts (Excel), an outcome named Job_Start
    zeros = contacts.copy()
    # ten contacts whose ids lost their case and leading zeros on the way
    zeros.loc[:9, "client_id"] = zeros.loc[:9, "client_id"].str.replace("C0000", "c", regex=False)
    case(
        "warn_unmatched_ids_and_outcome_case",
        [
            "10 contacts rows (of 443) have a client_id that is not in the clients table",
            "10 of them match a client once case and leading zeros are ignored",
            "outcome 'Job_Start'",
            "did you mean 'job_start'?",
        ],
        {
            "contacts": ("contacts.csv", lambda p: p.write_text(csv_text(zeros))),
            "outcomes": (
                "outcomes.csv",
                lambda p: p.write_text(
                    csv_text(pd.concat([outcomes, outcomes.head(3).assign(outcome="Job_Start")], ignore_index=True))
                ),
            ),
        },
    )
    # 14. 'NA' as a site code is read as missing, so the site is empty
    na_site = clients.copy()
    na_site.loc[[0, 1, 2], "site"] = "NA"
    case(
        "na_site_code",
        ["site is empty (or holds 'NA', read as missing)", "missing_values without it"],
        {"clients": ("clients.csv", lambda p: p.write_text(csv_text(na_site)))},
    )
    # 14. 'NA' in a covariate, placeholder dates, a constant covariate
    quirks = clients.copy()
    quirks.loc[[0, 1, 2], "ethnicity"] = "NA"
    quirks.loc[3, "start_date"] = "1900-01-01"
    quirks["disability"] = "0"
    case(
        "warn_missing_tokens_dates_constant",
        [
            "ethnicity: 3 cells read as missing for their text ('NA' 3)",
            "start_date: 1 dates outside 1990-01-01 to 2025-08-01 (e.g. 1900-01-01; row 5)",
            "covariate disability takes one value (0)",
        ],
        {"clients": ("clients.csv", lambda p: p.write_text(csv_text(quirks)))},
    )
    # 11. semicolons and decimal commas, configured, and a UTF-16 file: valid
    euro = outcomes.assign(value=lambda d: d["value"].str.replace(".", ",", regex=False))
    case(
        "warn_semicolons_configured",
        ["the extract is valid"],
        {
            "outcomes": (
                "outcomes.csv",
                lambda p: p.write_text(euro.to_csv(index=False, sep=";")),
                {"delimiter": ";", "decimal": ","},
            ),
            "workers": (
                "workers.csv",
                lambda p: p.write_bytes(csv_text(base("workers")).encode("utf-16")),
            ),
        },
    )

    # issue 15: the responses table, one problem per case
    answers = responses_base(clients)
    swem = answers.index[answers["questionnaire"] == "SWEMWBS"]
    responses_case(
        "responses_out_of_range",
        [
            "responses outside the answers of Short Warwick-Edinburgh",
            "whole numbers 1 to 5",
            "e.g. 6",
            "[1 row; first: 3]",
        ],
        answers.assign(response=answers["response"].where(answers.index != swem[1], "6")),
    )
    responses_case(
        "responses_not_numbers",
        ["responses that are not numbers (e.g. 'Often')", "not its label"],
        answers.assign(response=answers["response"].where(answers.index != swem[2], "Often")),
    )
    responses_case(
        "responses_unknown_item",
        ["unknown item label(s) for questionnaire 'SWEMWBS' (e.g. 'q8')", "q1, q2, q3, q4, q5, q6, q7"],
        pd.concat([answers, answers.iloc[[0]].assign(item="q8")], ignore_index=True),
    )
    twice = answers.iloc[[0]].assign(response=str(int(answers["response"].iloc[0]) % 5 + 1))
    responses_case(
        "responses_duplicate_item",
        ["the same item answered twice, differently, in one administration", "[2 rows; first: 2, 162]"],
        pd.concat([answers, twice], ignore_index=True),
    )
    undated = answers.copy()
    undated.loc[[3, 4], "response_date"] = ""
    responses_case("responses_undated", ["undated responses", "[2 rows; first: 5, 6]"], undated)
    responses_case(
        "warn_responses_other_questionnaire",
        ["rows of questionnaires not named under questionnaires are ignored: 'PHQ9' (9 rows)"],
        pd.concat([answers, answers.head(9).assign(questionnaire="PHQ9", item=[f"p{j}" for j in range(1, 10)])]),
    )


if __name__ == "__main__":
    main()
