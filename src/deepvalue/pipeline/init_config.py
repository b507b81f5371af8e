"""``deepvalue init``: a commented study config (and a values-file stub) from an unknown extract.

Each table's layout is found and the table read with the ingest's own reader
(:mod:`deepvalue.extract.profile`); its columns are mapped to the canonical ones by name and
content (:mod:`deepvalue.pipeline.init_columns`); the clients' other columns become covariates
with their types; the outcome column's values become the outcomes with a type and recording
(:mod:`deepvalue.pipeline.init_outcomes`). What could not be decided is a ``# CHECK:`` comment
above its key in the written file and a line of :attr:`InitResult.checks`. The written config is
validated against the schema before it is returned; ``deepvalue validate`` then checks it against
the extract.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from deepvalue.core.config import config_schema, load_config
from deepvalue.core.errors import ConfigError, Problem
from deepvalue.extract.profile import TableProfile, read_table
from deepvalue.extract.read import parse_dates
from deepvalue.pipeline.init_columns import (
    ROLES,
    Check,
    Covariate,
    TableMapping,
    distinct_ids,
    excel_serial,
    map_columns,
    propose_covariates,
    role_words,
)
from deepvalue.pipeline.init_outcomes import OutcomeProposal, propose_outcomes, values_stub
from deepvalue.value.values_file import validate_values

_DATE_ROLES = ("start_date", "contact_date", "outcome_date", "end_date", "response_date")
TABLE_ORDER = ("clients", "contacts", "outcomes", "workers", "responses")


@dataclass
class InitResult:
    """What ``deepvalue init`` wrote and what the user must check."""

    config_path: Path
    values_path: Path
    config_text: str
    values_text: str
    mappings: dict[str, TableMapping]
    outcomes: list[OutcomeProposal]
    covariates: list[Covariate]
    checks: list[Check] = field(default_factory=list)


def _check_lines(indent: str, message: str) -> list[str]:
    """A ``# CHECK:`` comment, wrapped at 110 characters (continuation lines indented)."""
    wrapped = textwrap.wrap(f"CHECK: {message}", width=110 - len(indent), subsequent_indent="  ")
    return [f"{indent}# {line}" for line in wrapped]


def _q(text: str) -> str:
    """A YAML scalar for any text (a JSON string is a YAML double-quoted scalar)."""
    return json.dumps(str(text), ensure_ascii=False)


def _table_format(profile: TableProfile, mapping: TableMapping) -> tuple[str | None, list[Check]]:
    """The one strftime format of a table's mapped text dates (None: ISO 8601 or real dates)."""
    checks, formats = [], {}
    for canon in _DATE_ROLES:
        name = mapping.columns.get(canon)
        if name is None:
            continue
        col = profile.columns[name]
        if col.date is None:
            if excel_serial(col):
                checks.append(
                    Check(
                        f"extract.{profile.name}.columns.{canon}",
                        f"{name!r} holds whole numbers such as {col.examples[0]}: Excel serial day numbers, which "
                        "the ingest refuses; format the column as dates in Excel and save again",
                    )
                )
            continue
        if col.date.typed:
            continue
        formats[name] = col.date.fmt
        if col.date.ambiguous:
            checks.append(
                Check(
                    f"extract.{profile.name}.date_format",
                    f"every day in {name!r} is 12 or less (e.g. {col.examples[0]}), so it reads day-first "
                    f"({col.date.fmt}) and month-first ({col.date.other}); day-first is assumed (UK); if the system "
                    f'writes months first, set "{col.date.other}"',
                )
            )
    distinct = sorted(set(formats.values()), key=str)
    if len(distinct) > 1:
        shown = ", ".join(f"{n!r} {f or 'ISO 8601'}" for n, f in formats.items())
        checks.append(
            Check(
                f"extract.{profile.name}.date_format",
                f"the table's date columns are written differently ({shown}) and one format is read per table: "
                "export them alike",
            )
        )
    return (distinct[0] if distinct else None), checks


def _latest_date(profiles: dict[str, TableProfile], mappings: dict[str, TableMapping], fmts) -> str | None:
    latest = None
    for table, canon in (("contacts", "contact_date"), ("outcomes", "outcome_date"), ("clients", "start_date")):
        name = mappings[table].columns.get(canon) if table in mappings else None
        if name is None:
            continue
        try:
            days = np.asarray(parse_dates(profiles[table].table[name], fmts[table])[0].to_pandas(date_as_object=False))
        except ValueError:
            continue
        days = days[~np.isnat(days)]
        if days.size:
            latest = max(latest, days.max()) if latest is not None else days.max()
    return None if latest is None else str(np.datetime64(latest, "D"))


def init_study(
    tables: dict[str, str | Path],
    out: str | Path,
    values_out: str | Path | None = None,
    force: bool = False,
) -> InitResult:
    """Write a study config for the extract `tables` (clients, contacts, outcomes; workers and
    responses optional) to `out`, and a values-file stub beside it (``<stem>_values.yaml``).

    Raises
    ------
    ConfigError
        When `out` or the values file exists (unless `force`), or the written config does not
        validate (a bug in this function).
    ExtractError
        When a table cannot be read.
    """
    out = Path(out)
    values_path = Path(values_out) if values_out else out.with_name(f"{out.stem}_values.yaml")
    for path in (out, values_path):
        if path.exists() and not force:
            raise ConfigError(
                [Problem("init", None, f"{path} exists", "give another --out (or --values), or --force to replace it")],
                headline="init does not overwrite files",
            )
    schema = config_schema()
    missing = tuple(schema["properties"]["extract"]["properties"]["missing_values"]["default"])
    given = {t: tables[t] for t in TABLE_ORDER if tables.get(t)}
    profiles = {t: read_table(t, p, missing, role_words(t)) for t, p in given.items()}

    mappings: dict[str, TableMapping] = {"clients": map_columns(profiles["clients"], {})}
    refs = {"client_id": _ids(profiles["clients"], mappings["clients"], "client_id")}
    if "workers" in profiles:
        mappings["workers"] = map_columns(profiles["workers"], {})
        refs["worker_id"] = _ids(profiles["workers"], mappings["workers"], "worker_id")
    for t in ("contacts", "outcomes", "responses"):
        if t in profiles:
            mappings[t] = map_columns(profiles[t], refs)
    checks: list[Check] = []
    for t in TABLE_ORDER:
        if t in mappings:
            checks += mappings[t].checks
            checks += [
                Check(
                    f"extract.{t}.columns",
                    f"column {c.name!r} looks like a direct identifier ({c.identifier}): "
                    "the ingest refuses the extract until it is removed",
                )
                for c in profiles[t].columns.values()
                if c.identifier
            ]
    live_tables = set(schema["properties"]["extract"]["properties"])
    checks += [
        Check(f"extract.{t}", f"this version of deepvalue has no extract.{t} key: the {t} table is mapped but left out")
        for t in profiles
        if t not in live_tables
    ]
    fmts, fmt_checks = {}, []
    for t, m in mappings.items():
        fmts[t], more = _table_format(profiles[t], m)
        fmt_checks += more
    checks += fmt_checks

    covariates, left_out = propose_covariates(profiles["clients"], mappings["clients"])
    checks += [Check(f"covariates: {c.name}", c.check) for c in covariates if c.check]
    om = mappings["outcomes"].columns
    cm = mappings["clients"].columns
    proposals: list[OutcomeProposal] = []
    if {"outcome", "value", "client_id"} <= set(om) and {"client_id", "service"} <= set(cm):
        proposals = propose_outcomes(
            profiles["outcomes"], om, profiles["clients"], cm, fmts["clients"], fmts["outcomes"]
        )
    checks += [Check(f"outcomes: {o.name}", o.check) for o in proposals if o.check]
    if not proposals:
        checks.append(Check("outcomes", "no outcomes found: map the outcome and value columns, then list the outcomes"))
    values_text, value_checks = values_stub(proposals)
    checks += value_checks

    if not any(c.use for c in covariates):
        checks.append(Check("covariates", "no usable covariate found: name at least one baseline column"))
    latest = _latest_date(profiles, mappings, fmts)
    if latest is None:
        checks.append(Check("extract.extract_date", "no date read: give the day the extract was taken"))
    text = _config_text(profiles, mappings, fmts, covariates, left_out, proposals, values_path, checks)
    text = _with_latest(text, latest)
    load_config(yaml.safe_load(text), source=str(out))  # a config that does not validate is a bug here
    validate_values(yaml.safe_load(values_text), where=str(values_path))
    out.parent.mkdir(parents=True, exist_ok=True)
    values_path.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    values_path.write_text(values_text, encoding="utf-8")
    return InitResult(out, values_path, text, values_text, mappings, proposals, covariates, checks)


def _ids(profile: TableProfile, mapping: TableMapping, canon: str):
    name = mapping.columns.get(canon)
    return distinct_ids(profile, name) if name else None


def _with_latest(text: str, latest: str | None) -> str:
    line = (
        f'  extract_date: "{latest}"   # the latest date in the extract; set the day it was taken if later'
        if latest
        else "  extract_date: null   # CHECK: the day the extract was taken (YYYY-MM-DD); null = the run's date"
    )
    return text.replace("  extract_date: @@LATEST@@", line)


def _config_text(profiles, mappings, fmts, covariates, left_out, proposals, values_path, checks) -> str:
    by_key: dict[str, list[str]] = {}
    for c in checks:
        by_key.setdefault(c.key, []).append(c.message)
    n_checks = len(checks)
    sources = ", ".join(str(p.path) for p in profiles.values())
    lines = [
        "# Study config written by `deepvalue init` from: " + sources,
        "# Every key is documented in config/README.md. Check it with: deepvalue validate --config <this file>",
        f"# {n_checks} thing(s) to decide, here and in the values file, are marked 'CHECK:'.",
        "# Paths are as given to deepvalue init (relative ones start at the directory the workflow runs in).",
        "extract:",
    ]
    live_tables = set(config_schema()["properties"]["extract"]["properties"])
    common = {fmts[t] for t in mappings if _has_text_dates(profiles[t], mappings[t])}
    shared_fmt = next(iter(common)) if len(common) == 1 else None
    for t in TABLE_ORDER:
        if t not in mappings:
            continue
        block = _table_block(t, profiles[t], mappings[t], fmts[t] if fmts[t] != shared_fmt else None, by_key)
        if t in live_tables:
            lines += block
        else:
            for msg in by_key.get(f"extract.{t}", []):
                lines += _check_lines("  ", msg)
            lines += [ln if ln.lstrip().startswith("#") else "  # " + ln[2:] for ln in block]
    for msg in by_key.get("extract.date_format", []):
        lines += _check_lines("  ", msg)
    lines.append(
        f"  date_format: {_q(shared_fmt) if shared_fmt else 'null'}"
        + ("   # null: ISO 8601 dates (2024-03-01) or real date cells" if not shared_fmt else "")
    )
    lines.append("  extract_date: @@LATEST@@")
    lines += ["", "# Baseline covariates (clients columns known at the start; service, site and start quarter are"]
    lines += ["# always adjusted for). Types: numeric, binary (0/1, Y/N, yes/no), categorical."]
    lines.append("covariates:")
    used = [c for c in covariates if c.use]
    for c in covariates:
        if c.check:
            lines += _check_lines("  ", c.check)
        entry = f"- {{name: {_q(c.name)}, type: {c.type}}}"
        lines.append(("  " if c.use else "  # ") + f"{entry:<60} # {c.note}")
    if not used:
        lines.append("  # CHECK: no usable covariate found: name at least one baseline column of the clients table")
        lines.append('  - {name: "CHECK", type: numeric}')
    for line in left_out:
        lines.append(f"  # not used: {line}")
    lines += ["", "# Outcomes: the values of the outcome column. follow_up_days is the study's choice (default 365)."]
    lines.append("outcomes:")
    for o in proposals:
        lines.append(f"  # {o.name}: {o.rows} rows, {o.clients} clients; {o.note}")
        if o.follow_up_hint:
            lines.append(f"  #   {o.follow_up_hint}")
        if o.services:
            lines.append(f"  #   only clients of {', '.join(o.services)} have rows of it, hence services")
        if o.check:
            lines += _check_lines("  ", o.check)
        parts = [f"name: {_q(o.name)}", f"type: {o.type}", "follow_up_days: 365", f"recorded: {o.recorded}"]
        if o.services:
            parts.append(f"services: [{', '.join(_q(s) for s in o.services)}]")
        lines.append("  - {" + ", ".join(parts) + "}")
    if not proposals:
        lines.append("  # CHECK: no outcomes found")
        lines.append('  - {name: "CHECK", type: binary}')
    lines += [
        "",
        "# The exposure (the defaults; see config/README.md): treatment = UPC over the first 4 contacts >= 0.75.",
        "exposure: {index: upc, threshold: 0.75, window_contacts: 4, window_max_days: 120}",
        "",
        "# The unit values (a stub listing the outcomes above; every value is a placeholder to replace).",
        f"value: {{file: {_q(values_path)}}}",
        "",
        "seed: 20261125",
    ]
    return "\n".join(lines) + "\n"


def _has_text_dates(profile: TableProfile, mapping: TableMapping) -> bool:
    return any(
        (col := profile.columns[mapping.columns[c]]).date is not None and not col.date.typed
        for c in _DATE_ROLES
        if c in mapping.columns
    )


def _table_block(t: str, profile: TableProfile, mapping: TableMapping, fmt, by_key) -> list[str]:
    lay = profile.layout
    key = f"extract.{t}"
    lines = [f"  {t}:", f"    path: {_q(profile.path)}"]
    if lay.sheet is not None:
        lines.append(f"    sheet: {_q(lay.sheet)}")
    if lay.encoding:
        lines.append(f"    encoding: {lay.encoding}   # the file is not UTF-8")
    if lay.delimiter != ",":
        lines.append(f"    delimiter: {_q(lay.delimiter)}")
    if lay.decimal != ".":
        lines.append('    decimal: ","   # numbers are written 1,5')
    if lay.skip_rows:
        lines.append(f"    skip_rows: {lay.skip_rows}   # lines above the header")
    if fmt:
        lines.append(f"    date_format: {_q(fmt)}")
    for msg in by_key.get(f"{key}.date_format", []) + by_key.get(f"{key}.columns", []):
        lines += _check_lines("    ", msg)
    lines.append("    columns:")
    for role in ROLES[t]:
        for msg in by_key.get(f"{key}.columns.{role.canon}", []):
            lines += _check_lines("      ", msg)
        name = mapping.columns.get(role.canon)
        if name is None:
            if role.required:
                lines.append(f"      {role.canon}: {_q('CHECK: the column of ' + role.canon)}")
            continue
        col = profile.columns[name]
        lines.append(f"      {role.canon + ':':<17} {_q(name):<24} # {mapping.how[role.canon]}; {_example(col)}")
    return lines


def _example(col) -> str:
    shown = ", ".join(e.removesuffix(" 00:00:00") for e in col.examples[:2])
    if col.date is not None:
        how = "real dates" if col.date.typed else (col.date.fmt or "ISO 8601")
        return f"dates ({how}), e.g. {shown}"
    return f"{col.distinct} distinct, e.g. {shown}"
