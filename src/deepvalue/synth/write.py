"""Writing a generated extract: the four CSVs, truth.json and a ready-to-run config.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

from deepvalue.synth.parameters import DEFAULT_EXPOSURE, OUTCOMES, SERVICES, IntArray
from deepvalue.synth.responses import SYNTH_QUESTIONNAIRES

if TYPE_CHECKING:
    from deepvalue.synth.generate import SyntheticExtract


def write_extract(extract: SyntheticExtract, out_dir: str | Path) -> dict[str, Path]:
    """Write the extract, ``truth.json`` and a runnable ``config.yaml`` into `out_dir`.

    CSVs are written with ``pyarrow.csv`` (pandas ``to_csv`` takes ~18 s at 8 million rows):
    no index column, unquoted fields, ISO dates, empty cells for missing values, outcome values
    as integers (binary, count) or with two decimals (continuous). Output bytes depend only on
    the extract.

    Parameters
    ----------
    extract : SyntheticExtract
        What :func:`generate_extract` returned.
    out_dir : str or Path
        Created if missing. Paths in ``config.yaml`` are ``str(Path(out_dir) / file)``, so a
        relative `out_dir` stays relative (to the directory the workflow runs from).

    Returns
    -------
    dict of str to Path
        ``clients``, ``contacts``, ``outcomes``, ``workers``, ``responses`` (when the extract
        has questionnaire answers: responses as whole numbers, empty when not answered),
        ``truth`` and ``config``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.csv" for name in ("clients", "contacts", "outcomes", "workers")}
    if extract.responses is not None:
        paths["responses"] = out / "responses.csv"
    paths["truth"] = out / "truth.json"
    paths["config"] = out / "config.yaml"

    decimals = pa.array([2 if OUTCOMES[o]["type"] == "continuous" else 0 for o in OUTCOMES])
    outcome_codes = pc.index_in(
        pa.array(extract.outcomes["outcome"]), value_set=pa.array(list(OUTCOMES), pa.large_string())
    )
    _write_csv(extract.clients, paths["clients"])
    _write_csv(extract.contacts, paths["contacts"])
    _write_csv(
        extract.outcomes,
        paths["outcomes"],
        value_decimals=np.asarray(pc.take(decimals, outcome_codes)),
    )
    _write_csv(extract.workers, paths["workers"])
    if extract.responses is not None:
        answers = extract.responses.assign(response=extract.responses["response"].astype("Int64"))
        _write_csv(answers, paths["responses"])
    paths["truth"].write_text(json.dumps(extract.truth, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    config = _workflow_config(extract, out, paths)
    paths["config"].write_text(
        yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=120),
        encoding="utf-8",
    )
    return paths


# ============================================================================================
# writing
# ============================================================================================


def _format_values(values: npt.NDArray[np.float64], decimals: IntArray) -> pa.Array:
    """Fixed-point text: integers for decimals 0, two decimals (pounds and pence) for 2."""
    cents = np.rint(values * 100).astype(np.int64)
    whole = pc.cast(pa.array(np.rint(values).astype(np.int64)), pa.string())
    magnitude = np.abs(cents)
    sign = pa.array(np.where(cents < 0, "-", ""))
    pounds = pc.cast(pa.array(magnitude // 100), pa.string())
    pence = pc.utf8_lpad(pc.cast(pa.array(magnitude % 100), pa.string()), width=2, padding="0")
    fixed = pc.binary_join_element_wise(pc.binary_join_element_wise(sign, pounds, ""), pence, ".")
    return pc.if_else(pa.array(decimals == 2), fixed, whole)


def _write_csv(frame: pd.DataFrame, path: Path, value_decimals: IntArray | None = None) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            column = pc.cast(column, pa.date32())  # ISO YYYY-MM-DD, empty when missing
        elif pa.types.is_floating(column.type):
            if value_decimals is None:
                raise ValueError(f"no fixed format for float column {name!r}")
            column = _format_values(frame[name].to_numpy(dtype=np.float64), value_decimals)
        columns.append(column)
    table = pa.table(columns, names=table.column_names)
    # Arrow quotes header names; writing the header ourselves keeps the file plain.
    with pa.OSFile(str(path), "wb") as sink:
        sink.write((",".join(table.column_names) + "\n").encode("utf-8"))
        pacsv.write_csv(
            table,
            sink,
            write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"),
        )


def _event_keys(spec: dict[str, Any]) -> dict[str, Any]:
    """An outcome's recording keys in an events extract's config: events for binary and count
    outcomes, and the services it applies to (a client of another service has no row, which an
    events outcome would otherwise read as no event)."""
    keys: dict[str, Any] = {"recorded": "events"} if spec["type"] != "continuous" else {}
    if set(spec["services"]) != set(SERVICES):
        keys["services"] = list(spec["services"])
    return keys


def _workflow_config(extract: SyntheticExtract, out: Path, paths: dict[str, Path]) -> dict[str, Any]:
    def table(name: str, columns: list[str]) -> dict[str, Any]:
        return {"path": str(out / paths[name].name), "columns": {c: c for c in columns}}

    exposure = extract.truth["exposure"]
    answers = (
        {}
        if extract.responses is None
        else {"responses": table("responses", ["client_id", "questionnaire", "item", "response", "response_date"])}
    )
    questionnaires = (
        {}
        if extract.responses is None
        else {
            "questionnaires": [dict(q) for q in SYNTH_QUESTIONNAIRES],
            # the alliance carries part of the effect on wellbeing (truth.json's mediation keys)
            "mediation": {"mediator": "alliance"},
        }
    )
    return {
        "extract": {
            "clients": table("clients", ["client_id", "service", "site", "start_date"]),
            "contacts": table("contacts", ["client_id", "worker_id", "contact_date", "contact_id"]),
            "outcomes": table("outcomes", ["client_id", "outcome", "value", "outcome_date"]),
            "workers": table("workers", ["worker_id", "end_date", "start_date", "site"]),
            **answers,
            "date_format": None,
            "extract_date": extract.extract_date.isoformat(),
        },
        "covariates": [
            {"name": "age", "type": "numeric"},
            {"name": "sex", "type": "categorical"},
            {"name": "disability", "type": "binary"},
            {"name": "language_need", "type": "binary"},
            {"name": "n_issues", "type": "numeric"},
            {"name": "prior_unemployed_months", "type": "numeric"},
            {"name": "ethnicity", "type": "categorical"},
        ],
        "outcomes": [
            {
                "name": name,
                "type": spec["type"],
                "follow_up_days": spec["follow_up_days"],
                # written only for event recording, so a measured extract's config keeps its bytes
                **(_event_keys(spec) if extract.recording == "events" else {}),
            }
            for name, spec in OUTCOMES.items()
        ],
        **questionnaires,
        "exposure": {key: exposure[key] for key in DEFAULT_EXPOSURE},
        "seed": extract.truth["seed"],
        "synthetic": {"truth": str(out / paths["truth"].name)},
    }
