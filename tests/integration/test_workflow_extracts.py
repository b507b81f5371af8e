"""The real workflow (snakemake) on extracts other than the default one: messy, broken, an invalid
config, cohort targets alone, changed inputs, a real-looking extract without workers or truth.

Each test runs `snakemake --snakefile REPO/Snakefile --directory OUT --configfile CFG` in a
subprocess, as a user would, and checks the outputs against the generator's truth.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
import yaml

from conftest import fingerprint, run_workflow, synth

pytestmark = pytest.mark.slow


def test_messy_extract_cleaning_counts_match_what_was_injected(tmp_path):
    """Ingest's counts of what it dropped, and the cohort, on a messy extract; the run goes as far as our
    estimators (results/estimates/methods.csv: ingest, cohort, matching, every method on covariates with
    missing values), not through DoWhy, dml and the report, which read the same cleaned tables."""
    cfg = synth(tmp_path / "extract", 1500, seed=12, messy=True)
    res = run_workflow(tmp_path / "run", cfg, "results/estimates/methods.csv")
    assert res.returncode == 0, res.stderr[-3000:]
    truth = json.loads((tmp_path / "extract" / "truth.json").read_text())
    report = json.loads((tmp_path / "run" / "results" / "ingest_report.json").read_text())
    contacts = report["tables"]["contacts"]
    dropped = {d["reason"].split(" (")[0]: d["rows"] for d in contacts["dropped"]}
    injected = truth["messy"]
    assert injected["enabled"] and injected["duplicate_contacts"] > 0
    assert dropped["exact duplicate of an earlier contact"] == injected["duplicate_contacts"]
    assert dropped["client_id not in the clients table"] == injected["unknown_client_contacts"]
    assert dropped["contact before the client's start date"] == injected["contacts_before_start"]
    assert dropped["contact after the extract date"] == injected["future_contacts"]
    assert contacts["rows_read"] == contacts["rows_written"] + sum(dropped.values())
    missing = report["tables"]["clients"]["missing_values"]
    assert missing["age"] == injected["missing_age"] and missing["ethnicity"] == injected["missing_ethnicity"]
    # after cleaning, the cohort is the same population as the clean data's truth
    analysis = pd.read_parquet(tmp_path / "run" / "results" / "cohort" / "analysis.parquet")
    assert fingerprint(analysis["client_id"]) == truth["cohort"]["eligible_sha256"]
    flow = pd.read_csv(tmp_path / "run" / "results" / "cohort" / "flow.csv")
    assert flow["n_remaining"].iloc[0] - flow["n_excluded"].sum() == len(analysis)
    # the estimators ran on the cleaned cohort, missing covariate values included (missing indicators)
    est = pd.read_csv(tmp_path / "run" / "results" / "estimates" / "methods.csv")
    aipw = est[(est["method"] == "aipw") & (est["estimand"] == "ATT") & est["subgroup"].isna()]
    assert set(aipw["outcome"]) >= {"job_start", "income_gain_gbp", "crisis_contacts"}
    assert (aipw["std_error"] > 0).all() and aipw["estimate"].notna().all()


def test_broken_extract_stops_with_one_message_per_problem(tmp_path):
    cfg_path = synth(tmp_path / "extract", 300, seed=13)
    clients = pd.read_csv(tmp_path / "extract" / "clients.csv", dtype=str, keep_default_na=False)
    clients.loc[4, "age"] = "unknown"
    clients.loc[7, "start_date"] = "31/12/2022"
    clients.loc[9, "client_id"] = clients.loc[8, "client_id"]
    clients.to_csv(tmp_path / "extract" / "clients.csv", index=False)
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["covariates"].append({"name": "imd_decile", "type": "numeric"})
    cfg_path.write_text(yaml.safe_dump(cfg))
    res = run_workflow(tmp_path / "run", cfg_path)
    assert res.returncode != 0
    err = res.stderr
    assert "the extract cannot be used as it is (4 problems)" in err
    assert "column 'age': text in a numeric covariate (e.g. 'unknown') [1 row; first: 6]" in err
    assert "column 'start_date': unparseable dates (e.g. '31/12/2022') [1 row; first: 9]" in err
    assert "duplicate client ids" in err and "[2 rows; first: 10, 11]" in err
    assert "column 'imd_decile': configured covariate is not a column" in err
    assert "Traceback" not in err
    results = tmp_path / "run" / "results"
    assert not (results / "interim").exists() or not any((results / "interim").iterdir())
    assert not (results / "cohort").exists()


def test_invalid_config_stops_before_any_job(tmp_path):
    cfg_path = synth(tmp_path / "extract", 300, seed=14)
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["exposure"]["threshold"] = 75
    cfg["exposure"]["index"] = "UPC"
    cfg_path.write_text(yaml.safe_dump(cfg))
    res = run_workflow(tmp_path / "run", cfg_path)
    assert res.returncode != 0
    assert "the configuration is invalid (2 problems)" in res.stderr
    assert "key 'exposure.threshold': 75 is greater than the maximum of 1" in res.stderr
    assert "did you mean 'upc'" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "run" / "results").exists()


def test_cohort_targets_alone_and_byte_identical_reruns(tmp_path):
    cfg = synth(tmp_path / "extract", 800, seed=15)
    targets = ("results/cohort/analysis.parquet", "results/cohort/flow.csv")
    digests = []
    for run in ("a", "b"):
        res = run_workflow(tmp_path / run, cfg, *targets)
        assert res.returncode == 0, res.stderr[-3000:]
        results = tmp_path / run / "results"
        assert not (results / "provenance.json").exists()  # only what was asked for, and its inputs
        digests.append(
            {
                str(p.relative_to(results)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(results.rglob("*"))
                if p.is_file()
            }
        )
    assert digests[0] == digests[1]
    # the figures apply the disclosure threshold and are a rule of their own (plot_cohort_figures)
    assert "cohort/flow.csv" in digests[0] and "cohort/figures/continuity_by_service.png" not in digests[0]


def test_verify_reports_changed_inputs(tmp_path):
    from deepvalue.pipeline.reproduce import verify

    cfg = synth(tmp_path / "extract", 300, seed=21)
    res = run_workflow(tmp_path / "run", cfg, "results/provenance.json")
    assert res.returncode == 0, res.stderr[-2000:]
    (tmp_path / "run" / "results" / "MANIFEST.sha256").write_text("")
    with open(tmp_path / "extract" / "contacts.csv", "a") as fh:
        fh.write("\n")
    out = verify(tmp_path / "run" / "results")
    assert out[0].startswith("input contacts:") and "has changed since the run" in out[0]
    # the emptied manifest lists nothing, so the outputs on disk are reported as added too
    assert all(line.endswith("added since the run (not in the manifest)") for line in out[1:])
    assert "provenance.json" not in " ".join(out)


def test_real_extract_without_workers_table_or_truth(tmp_path):
    """The economist's path: no workers table (so no instrument), not synthetic (no truth)."""
    cfg_path = synth(tmp_path / "extract", 1200, seed=9)
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["extract"]["workers"] = None
    cfg["synthetic"] = None
    cfg["estimation"] = {"dowhy": {"simulations": 20, "bootstrap_replicates": 20}}
    cfg_path.write_text(yaml.safe_dump(cfg))
    res = run_workflow(tmp_path / "run", cfg_path)
    assert res.returncode == 0, res.stderr[-3000:]
    results = tmp_path / "run" / "results"
    est = pd.read_csv(results / "estimates.csv", keep_default_na=False, na_values=[""])
    iv = est[est["method"] == "iv"]
    assert iv["estimate"].isna().all() and iv["notes"].str.contains("no workers table").all()
    assert pd.read_parquet(results / "interim" / "workers.parquet").empty
    assert pd.read_csv(results / "estimates_vs_truth.csv").empty
    prov = json.loads((results / "provenance.json").read_text())
    assert set(prov["inputs"]) == {"clients", "contacts", "outcomes", "responses"}
    assert "Not available" not in (results / "report.html").read_text()
