"""Write the extracts of tests/init_extracts/ (issue 18): the synthetic generator's tables as
three case-management systems might export them (other column names, formats, encodings and
file types), and one ambiguous extract, each with expected.yaml: the mapping, covariate types and
outcomes `deepvalue init` must find (or, for the ambiguous one, the keys it must mark CHECK).

Run from the repository root to rebuild them (the files are committed; this records how they
were made):

    .venv/bin/python tests/init_extracts/make_extracts.py
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from deepvalue.synth.generate import generate_extract
from deepvalue.synth.write import write_extract

HERE = Path(__file__).resolve().parent
CANONICAL = {
    "clients": ("client_id", "service", "site", "start_date"),
    "contacts": ("client_id", "worker_id", "contact_date", "contact_id", "mode", "duration_minutes"),
    "outcomes": ("client_id", "outcome", "value", "outcome_date"),
    "workers": ("worker_id", "site", "start_date", "end_date"),
}
COVARIATE_TYPES = {
    "age": "numeric",
    "sex": "categorical",
    "disability": "binary",
    "language_need": "binary",
    "n_issues": "numeric",
    "prior_unemployed_months": "numeric",
    "ethnicity": "categorical",
}
MEASURED = {"job_start": ("binary", "measured"), "income_gain_gbp": ("continuous", "measured"),
            "crisis_contacts": ("count", "measured")}  # fmt: skip
EVENTS = {"job_start": ("binary", "events"), "income_gain_gbp": ("continuous", "measured"),
          "crisis_contacts": ("count", "events")}  # fmt: skip


def synthetic(clients: int, seed: int, recording: str = "measured") -> dict[str, pd.DataFrame]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_extract(generate_extract(clients, seed=seed, recording=recording), tmp)
        return {t: pd.read_csv(paths[t], dtype=str, keep_default_na=False) for t in CANONICAL}


def dates(frame: pd.DataFrame, columns: list[str], fmt: str) -> None:
    for c in columns:
        parsed = pd.to_datetime(frame[c].replace("", None), format="%Y-%m-%d")
        frame[c] = parsed.dt.strftime(fmt).fillna("")


def expected(folder: Path, renames: dict[str, dict[str, str]], outcomes: dict, covariates: dict) -> None:
    columns = {t: {c: renames[t][c] for c in CANONICAL[t] if c in renames[t]} for t in renames}
    cov = {renames["clients"][k]: v for k, v in covariates.items()}
    out = {"columns": columns, "covariates": cov, "outcomes": {k: list(v) for k, v in outcomes.items()}}
    (folder / "expected.yaml").write_text(yaml.safe_dump(out, sort_keys=False, allow_unicode=True))


def fresh(name: str) -> Path:
    folder = HERE / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def crm_csv() -> None:
    """UK dates (day first), spaced names as a CRM shows them, Y/N and yes/no flags."""
    folder = fresh("crm_csv")
    t = synthetic(80, seed=11)
    renames = {
        "clients": {"client_id": "Client Ref", "service": "Programme", "site": "Hub", "start_date": "Referral Date",
                    "age": "Age", "sex": "Gender", "disability": "Disabled", "language_need": "Interpreter Needed",
                    "n_issues": "Number of Issues", "prior_unemployed_months": "Months Unemployed",
                    "ethnicity": "Ethnic Group"},
        "contacts": {"client_id": "Client Ref", "worker_id": "Adviser", "contact_date": "Appointment Date",
                     "contact_id": "Appointment ID", "mode": "Channel", "duration_minutes": "Minutes"},
        "outcomes": {"client_id": "Client Ref", "outcome": "Outcome Type", "value": "Result",
                     "outcome_date": "Date Achieved"},
        "workers": {"worker_id": "Adviser", "site": "Office", "start_date": "Date Joined", "end_date": "Leaving Date"},
    }  # fmt: skip
    t["clients"]["disability"] = t["clients"]["disability"].map({"1": "Y", "0": "N", "": ""})
    t["clients"]["language_need"] = t["clients"]["language_need"].map({"1": "yes", "0": "no", "": ""})
    dates(t["clients"], ["start_date"], "%d/%m/%Y")
    dates(t["contacts"], ["contact_date"], "%d/%m/%Y")
    dates(t["outcomes"], ["outcome_date"], "%d/%m/%Y")
    dates(t["workers"], ["start_date", "end_date"], "%d/%m/%Y")
    for name, frame in t.items():
        frame.rename(columns=renames[name]).to_csv(folder / f"{name}.csv", index=False)
    expected(folder, renames, MEASURED, COVARIATE_TYPES)


def workbook_and_parquet() -> None:
    """Clients in a workbook with a title line and real date cells; tab-separated contacts;
    outcomes and workers as Parquet with typed dates; CamelCase names."""
    folder = fresh("xlsx_parquet")
    t = synthetic(80, seed=12)
    renames = {
        "clients": {"client_id": "ParticipantID", "service": "ServiceLine", "site": "Centre",
                    "start_date": "StartDate", "age": "AgeAtStart", "sex": "Sex", "disability": "HasDisability",
                    "language_need": "LanguageNeed", "n_issues": "IssueCount",
                    "prior_unemployed_months": "PriorUnemployedMonths", "ethnicity": "Ethnicity"},
        "contacts": {"client_id": "ParticipantID", "worker_id": "KeyWorker", "contact_date": "SessionDate",
                     "contact_id": "SessionID"},
        "outcomes": {"client_id": "ParticipantID", "outcome": "Measure", "value": "Value",
                     "outcome_date": "RecordedDate"},
        "workers": {"worker_id": "StaffID", "site": "Location", "start_date": "Started", "end_date": "DateLeft"},
    }  # fmt: skip
    clients = t["clients"].rename(columns=renames["clients"])
    clients["StartDate"] = pd.to_datetime(clients["StartDate"])
    for c in ("AgeAtStart", "IssueCount", "PriorUnemployedMonths", "HasDisability", "LanguageNeed"):
        clients[c] = pd.to_numeric(clients[c].replace("", None))
    with pd.ExcelWriter(folder / "clients.xlsx", engine="openpyxl") as xl:
        pd.DataFrame([["Participants export (pseudonymised)"]]).to_excel(xl, index=False, header=False)
        clients.to_excel(xl, index=False, startrow=1)
    contacts = t["contacts"][["contact_id", "client_id", "worker_id", "contact_date"]]
    contacts.rename(columns=renames["contacts"]).to_csv(folder / "contacts.csv", index=False, sep="\t")
    outcomes = t["outcomes"].rename(columns=renames["outcomes"])
    outcomes["Value"] = pd.to_numeric(outcomes["Value"])
    outcomes["RecordedDate"] = pd.to_datetime(outcomes["RecordedDate"].replace("", None)).dt.date
    outcomes.to_parquet(folder / "outcomes.parquet", index=False)
    workers = t["workers"].rename(columns=renames["workers"])
    for c in ("Started", "DateLeft"):
        workers[c] = pd.to_datetime(workers[c].replace("", None)).dt.date
    workers.to_parquet(folder / "workers.parquet", index=False)
    expected(folder, renames, MEASURED, COVARIATE_TYPES)


def windows_events() -> None:
    """Windows-1252 text, semicolons and decimal commas, month-first (US) dates, events recording,
    lower-case names with underscores; no workers table."""
    folder = fresh("cp1252_events")
    t = synthetic(80, seed=13, recording="events")
    renames = {
        "clients": {"client_id": "case_number", "service": "stream", "site": "branch", "start_date": "enrolment_date",
                    "age": "age", "sex": "sex", "disability": "disability_flag", "language_need": "esol",
                    "n_issues": "n_issues", "prior_unemployed_months": "unemployed_months",
                    "ethnicity": "ethnicity"},
        "contacts": {"client_id": "case_number", "worker_id": "caseworker", "contact_date": "contact date",
                     "contact_id": "contact_ref", "mode": "contact_type", "duration_minutes": "duration"},
        "outcomes": {"client_id": "case_number", "outcome": "indicator", "value": "amount",
                     "outcome_date": "event_date"},
    }  # fmt: skip
    t["clients"]["ethnicity"] = t["clients"]["ethnicity"].replace({"Other": "Other – any other"})
    dates(t["clients"], ["start_date"], "%m/%d/%Y")
    dates(t["contacts"], ["contact_date"], "%m/%d/%Y")
    dates(t["outcomes"], ["outcome_date"], "%m/%d/%Y")
    t["outcomes"]["value"] = t["outcomes"]["value"].str.replace(".", ",", regex=False)
    for name in ("clients", "contacts", "outcomes"):
        frame = t[name].rename(columns=renames[name])
        frame.to_csv(folder / f"{name}.csv", index=False, sep=";", encoding="cp1252")
    expected(folder, renames, EVENTS, COVARIATE_TYPES)


def ambiguous() -> None:
    """What init cannot decide: two site-like columns, two worker-like columns, dates whose days
    are all 12 or less, no service name, a code-like and a post-start covariate, an outcome of
    large whole numbers."""
    folder = fresh("ambiguous")
    t = synthetic(60, seed=14)
    clients = t["clients"].rename(columns={"client_id": "id", "service": "category", "site": "office"})
    clients["team"] = clients["office"].str.replace("S", "T", regex=False)
    start = pd.to_datetime(clients["start_date"])  # every day 12 or less: reads day-first and month-first
    day = start.dt.day.clip(upper=12).map("{:02d}".format)
    clients["start_date"] = day + start.dt.strftime("/%m/%Y")
    clients["risk_level"] = (clients["n_issues"].astype(int) % 3 + 1).astype(str)
    clients["exit_reason"] = clients["sex"].map({"F": "moved", "M": "completed"}).fillna("completed")
    clients = clients.drop(columns=["n_issues"])
    clients.to_csv(folder / "clients.csv", index=False)
    contacts = t["contacts"].rename(columns={"worker_id": "adviser", "client_id": "id"})
    contacts["caseworker"] = contacts["adviser"]
    contacts[["id", "adviser", "caseworker", "contact_date"]].to_csv(folder / "contacts.csv", index=False)
    outcomes = t["outcomes"].rename(columns={"client_id": "id"})
    points = outcomes["outcome"] == "income_gain_gbp"
    outcomes.loc[points, "outcome"] = "wellbeing_points"
    whole = (pd.to_numeric(outcomes.loc[points, "value"]).abs().round() + 200).astype(int)
    outcomes.loc[points, "value"] = whole.astype(str)
    outcomes.to_csv(folder / "outcomes.csv", index=False)
    checks = [
        "extract.clients.columns.service",
        "extract.clients.columns.site",
        "extract.clients.date_format",
        "extract.contacts.columns.worker_id",
        "covariates: risk_level",
        "covariates: exit_reason",
        "outcomes: wellbeing_points",
    ]
    (folder / "expected.yaml").write_text(yaml.safe_dump({"checks": checks}, sort_keys=False))


if __name__ == "__main__":
    crm_csv()
    workbook_and_parquet()
    windows_events()
    ambiguous()
