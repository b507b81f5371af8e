"""Column mapping and covariates for ``deepvalue init``: which column of an unknown extract is the
client id, the worker, the site, the contact date..., by its name and by its content.

A column's name scores against the names case-management systems use for each canonical column
(:data:`ROLES`): 3 when it is one of them (``Adviser``, ``Key Worker``, ``Hub``, ``Programme``,
``Referral Date``; a trailing ``id``/``code``/``ref`` is ignored), 2 for a generic name in its
table (``Date`` in the contacts, ``ID`` in the clients) or a name that contains one of them
(``Allocated Caseworker``), 1 for a name that contains a generic one. Its content must fit: an id
of its own table is unique, a client id of the contacts or outcomes is found among the clients'
ids, a date reads as dates, a label repeats. Columns are given to roles in order of score; a
required column that no name announces is taken by content alone. Every choice that is not
certain (by content only, two columns as good, ids that match few clients, a day-first date
that reads month-first too) is a :class:`Check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from deepvalue.extract.profile import ColumnProfile, TableProfile

RoleKind = Literal["id", "label", "date", "number"]

_WORKER = (
    "worker adviser advisor caseworker case_worker key_worker keyworker officer case_officer staff staff_member "
    "practitioner coach mentor navigator support_worker lead_worker allocated_worker employee"
).split()
_SITE = "site hub office centre center branch location team base venue locality".split()
_SERVICE = (
    "service service_line programme program project stream workstream service_type service_area scheme contract"
).split()
_CLIENT = (
    "client client_reference client_no client_number clientid person participant service_user customer case "
    "case_number beneficiary member pseudonym pseudo urn"
).split()
_ID_SUFFIXES = frozenset("id code ref reference no num number key".split())
#: Names of covariates that may be recorded after the start (then they must not be adjusted for).
_AFTER_START = frozenset("end exit closed close closure discharge leave left leaving outcome result reason".split())
#: Name words of a numeric covariate that is a quantity rather than a code.
_QUANTITY = frozenset(
    "n num number count age months years days weeks hours amount gbp income score total size duration prior "
    "previous times".split()
)
#: A text covariate with more levels than this is left out (an identifier, a free text or a code list).
MAX_LEVELS = 50


@dataclass(frozen=True)
class Role:
    """A canonical column of a table and the names it goes by."""

    canon: str
    kind: RoleKind
    required: bool
    names: tuple[str, ...]
    weak: tuple[str, ...] = ()
    unique: bool = False  # the table's own id: one row per value


def _role(canon, kind, required, names, weak=(), unique=False) -> Role:
    return Role(canon, kind, required, (canon, *names), tuple(weak), unique)


ROLES: dict[str, tuple[Role, ...]] = {
    "clients": (
        _role("client_id", "id", True, _CLIENT, ("id", "ref", "reference"), unique=True),
        _role("service", "label", True, _SERVICE),
        _role("site", "label", True, _SITE),
        _role(
            "start_date",
            "date",
            True,
            "start start_date started date_started referral_date referred date_referred referral intake_date intake "
            "enrolment_date enrollment_date enrolled registration_date registered open_date opened date_opened "
            "case_opened episode_start programme_start join_date joined".split(),
            ("date",),
        ),
    ),
    "contacts": (
        _role("client_id", "id", True, _CLIENT),
        _role("worker_id", "id", True, _WORKER),
        _role(
            "contact_date",
            "date",
            True,
            "contact appointment_date appointment appt_date session_date session meeting_date meeting visit_date "
            "visit interaction_date activity_date date_of_contact seen_date date_seen attended_date".split(),
            ("date", "event_date"),
        ),
        _role(
            "contact_id",
            "id",
            False,
            "contact appointment appt session meeting visit interaction activity record event".split(),
            ("id", "ref", "row_id"),
            unique=True,
        ),
        _role(
            "mode", "label", False, "contact_mode channel contact_type contact_method method medium".split(), ("type",)
        ),
        _role(
            "duration_minutes",
            "number",
            False,
            "duration minutes mins duration_mins length_minutes time_spent time_minutes".split(),
            ("length",),
        ),
    ),
    "outcomes": (
        _role("client_id", "id", True, _CLIENT),
        _role(
            "outcome",
            "label",
            True,
            "outcome_type outcome_name outcome_code measure indicator kpi metric outcome_measure result_type".split(),
            ("type", "name"),
        ),
        _role("value", "number", True, "outcome_value result amount score value_gbp".split(), ("count", "number")),
        _role(
            "outcome_date",
            "date",
            False,
            "date_achieved achieved_date achieved recorded_date date_recorded result_date measured_date "
            "date_measured occurred".split(),
            ("date", "event_date"),
        ),
    ),
    "workers": (
        _role("worker_id", "id", True, _WORKER, ("id", "ref"), unique=True),
        _role("site", "label", False, _SITE),
        _role(
            "start_date",
            "date",
            False,
            "start started date_started joined date_joined join_date employment_start hire_date hired".split(),
        ),
        _role(
            "end_date",
            "date",
            False,
            "end leaving_date left date_left leave_date leaver_date termination_date employment_end finish_date "
            "finished leaving".split(),
        ),
    ),
    # the questionnaire responses table (long): one row per client, questionnaire, item and date
    "responses": (
        _role("client_id", "id", True, _CLIENT),
        _role("questionnaire", "label", True, "measure scale instrument tool survey form".split()),
        _role("item", "label", True, "question item_no question_no item_number".split()),
        _role("response", "number", True, "answer score value rating".split()),
        _role("response_date", "date", False, "completed_date date_completed survey_date".split(), ("date",)),
    ),
}


def role_words(table: str) -> tuple[str, ...]:
    """Every name a table's columns go by (to find the sheet of a workbook that holds the table)."""
    return tuple(n for r in ROLES[table] for n in (*r.names, *r.weak))


@dataclass(frozen=True)
class Check:
    """Something ``deepvalue init`` could not decide: where (a config key) and what to check."""

    key: str
    message: str

    def render(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass
class TableMapping:
    """A table's canonical -> file column mapping, how each was chosen, and what to check."""

    table: str
    columns: dict[str, str] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)


def _contains(tokens: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return any(tokens[i : i + n] == phrase for i in range(len(tokens) - n + 1))


def name_score(norm: str, role: Role) -> float:
    """How strongly a normalised column name says it is `role` (see the module docstring).

    >>> r = ROLES["contacts"][1]
    >>> name_score("key_worker", r), name_score("adviser_code", r), name_score("allocated_caseworker", r)
    (3, 3, 2)
    """
    tokens = norm.split("_")
    stripped = "_".join(tokens[:-1]) if len(tokens) > 1 and tokens[-1] in _ID_SUFFIXES else norm
    if norm in role.names or (role.kind in ("id", "label") and stripped in role.names):
        return 3
    if norm in role.weak:
        return 2
    if any(_contains(tokens, n.split("_")) for n in role.names):
        return 2
    if any(_contains(tokens, w.split("_")) for w in role.weak):
        return 1
    return 0


def overlap(values: pa.ChunkedArray, reference: pa.Array | None) -> float:
    """Share of a column's distinct values (as trimmed text) that are among `reference`'s."""
    if reference is None:
        return 0.0
    distinct = pc.unique(_as_text(values)).drop_null()
    if len(distinct) == 0:
        return 0.0
    return float(pc.sum(pc.is_in(distinct, value_set=reference)).as_py() or 0) / len(distinct)


def _as_text(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.string())
    return pc.utf8_trim_whitespace(values)


def distinct_ids(profile: TableProfile, column: str) -> pa.Array:
    """A mapped id column's distinct values as text (the reference for another table's ids)."""
    values = pc.unique(_as_text(profile.table[column])).drop_null()
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def excel_serial(col: ColumnProfile) -> bool:
    """Whether a column holds whole numbers in the range of Excel's day numbers for 1982-2064 (dates
    saved as numbers: the ingest refuses them, so they are mapped with a CHECK)."""
    return bool(col.kind == "number" and col.integer and 30000 <= (col.minimum or 0) <= (col.maximum or 0) <= 60000)


def _fits(role: Role, col: ColumnProfile) -> bool:
    """Whether a column's content can be the role's (before any overlap with another table)."""
    if col.kind == "empty":
        return False
    if role.kind == "date":
        return col.kind == "date" or excel_serial(col)
    if role.kind == "number":
        return col.kind in ("number", "binary") and col.date is None
    if role.kind == "id":
        if col.kind == "date" or (col.kind == "number" and not col.integer):
            return False
        # a table's own id: (nearly) one row per value; a few repeats are duplicate rows, said as a CHECK
        return col.distinct >= 0.98 * col.present if role.unique else col.distinct >= 2 or col.present < 2
    # a label repeats: fewer distinct values than rows (a table of a few rows gets some slack)
    ok_kind = col.kind in ("text", "binary") or (col.kind == "number" and col.integer)
    return ok_kind and (col.distinct <= max(2, col.present // 2) or col.present < 10)


def map_columns(
    profile: TableProfile, references: dict[str, pa.Array | None], exclude: tuple[str, ...] = ()
) -> TableMapping:
    """The canonical columns of one table found among its columns (see the module docstring).

    `references` holds, per id role (``client_id``, ``worker_id``), the other table's ids that
    this table's must match (None: no such table, or not found there).
    """
    roles = ROLES[profile.name]
    key = f"extract.{profile.name}.columns"
    mapping = TableMapping(profile.name)
    candidates: dict[str, list[tuple[float, float, str]]] = {r.canon: [] for r in roles}
    for r in roles:
        ref = references.get(r.canon) if r.kind == "id" and not r.unique else None
        for name, col in profile.columns.items():
            if name in exclude or not _fits(r, col):
                continue
            share = overlap(profile.table[name], ref) if ref is not None else None
            score = name_score(col.norm, r)
            if share is not None and share < 0.5 and score < 2:
                continue  # a column that is not named so and holds other ids
            candidates[r.canon].append((score, share if share is not None else 0.0, name))
    taken: set[str] = set()
    order = {r.canon: i for i, r in enumerate(roles)}
    # pass 1: by name; pass 2: the required columns no name announced, by content
    named = [(s, b, canon, n) for canon, cands in candidates.items() for s, b, n in cands if s > 0]
    for s, b, canon, name in sorted(named, key=lambda t: (-t[0], -t[1], order[t[2]], t[3])):
        if canon in mapping.columns or name in taken:
            continue
        mapping.columns[canon], mapping.how[canon] = name, "by name"
        taken.add(name)
        rivals = [n for s2, _, n in candidates[canon] if s2 == s and n != name and n not in taken]
        if rivals:
            mapping.checks.append(
                Check(
                    f"{key}.{canon}",
                    f"chose {name!r}, but {', '.join(map(repr, rivals))} is as likely by its name; keep the one "
                    f"that holds the {canon.replace('_', ' ')}",
                )
            )
    for r in roles:
        if r.canon in mapping.columns or not r.required:
            continue
        free = sorted(
            ((b, n) for s, b, n in candidates[r.canon] if n not in taken),
            key=lambda t: (-t[0], _position(profile, t[1])),
        )
        if not free:
            mapping.checks.append(
                Check(
                    f"{key}.{r.canon}",
                    f"no column looks like the {r.canon.replace('_', ' ')} (a {r.kind}); name the column that holds "
                    f"it (the columns: {', '.join(profile.columns)})",
                )
            )
            continue
        name = free[0][1]
        mapping.columns[r.canon], mapping.how[r.canon] = name, "by content"
        taken.add(name)
        others = [n for _, n in free[1:]]
        mapping.checks.append(
            Check(
                f"{key}.{r.canon}",
                f"chose {name!r} by its content only (no column is named like a {r.canon.replace('_', ' ')})"
                + (f"; other candidates: {', '.join(map(repr, others[:4]))}" if others else ""),
            )
        )
    for r in roles:
        name = mapping.columns.get(r.canon)
        if name is not None and r.unique and not profile.columns[name].unique:
            col = profile.columns[name]
            mapping.checks.append(
                Check(
                    f"{key}.{r.canon}",
                    f"{col.present - col.distinct} values of {name!r} repeat an earlier one: duplicate rows, or not "
                    f"the {r.canon.replace('_', ' ')}?",
                )
            )
        ref = references.get(r.canon) if r.kind == "id" and not r.unique else None
        if name is not None and ref is not None:
            share = overlap(profile.table[name], ref)
            if share < 0.9:
                mapping.checks.append(
                    Check(
                        f"{key}.{r.canon}",
                        f"only {share:.0%} of the values of {name!r} are ids of the "
                        f"{'clients' if r.canon == 'client_id' else 'workers'} table: is it the right column?",
                    )
                )
    mapping.columns = {r.canon: mapping.columns[r.canon] for r in roles if r.canon in mapping.columns}
    return mapping


def _position(profile: TableProfile, name: str) -> int:
    return list(profile.columns).index(name)


@dataclass(frozen=True)
class Covariate:
    """A clients column proposed as a covariate (``use`` False: written commented out)."""

    name: str
    type: str
    note: str = ""
    use: bool = True
    check: str | None = None


def propose_covariates(profile: TableProfile, mapping: TableMapping) -> tuple[list[Covariate], list[str]]:
    """The clients' other columns as covariates with their types, and the columns left out (with why)."""
    mapped = set(mapping.columns.values())
    covariates: list[Covariate] = []
    left_out: list[str] = []
    for name, col in profile.columns.items():
        if name in mapped:
            continue
        tokens = set(col.norm.split("_"))
        if col.identifier:
            left_out.append(f"{name}: looks like a direct identifier ({col.identifier}); remove it from the extract")
            continue
        if col.kind == "empty":
            left_out.append(f"{name}: empty")
            continue
        if col.distinct <= 1:
            left_out.append(f"{name}: one value only ({col.examples[0] if col.examples else ''!s})")
            continue
        if col.kind == "date":
            left_out.append(f"{name}: a date (a covariate is a number, 0/1 or a category; derive e.g. a duration)")
            continue
        if col.kind == "text" and (col.unique or col.distinct > MAX_LEVELS):
            left_out.append(
                f"{name}: text with {col.distinct} different values in {col.present} rows (an identifier, free "
                "text or a long code list); group it into a few categories to use it"
            )
            continue
        if col.kind == "number" and col.integer and col.unique and not tokens & _QUANTITY:
            left_out.append(f"{name}: a different whole number in every row (an identifier?)")
            continue
        kind = {"binary": "binary", "number": "numeric", "text": "categorical"}[col.kind]
        note, check = _describe(col), None
        if kind == "numeric" and col.integer and col.distinct <= 6 and not tokens & _QUANTITY:
            check = (
                f"{col.distinct} whole-number values ({', '.join(col.examples)}...): a quantity (numeric) or codes "
                "of categories (categorical)?"
            )
        use = not tokens & _AFTER_START
        if not use:
            check = (
                "its name suggests it is recorded after the start; adjusting for what happens after the "
                "exposure biases the effect. Uncomment it only if it is known at the start"
            )
        covariates.append(Covariate(name, kind, note, use, check))
    return covariates, left_out


def _describe(col: ColumnProfile) -> str:
    if col.kind == "number":
        lo, hi = col.minimum, col.maximum
        return f"{'whole numbers' if col.integer else 'numbers'} {lo:g} to {hi:g}" + _missing(col)
    if col.kind == "binary":
        return f"values {', '.join(col.examples)}" + _missing(col)
    return f"{col.distinct} categories, e.g. {', '.join(col.examples)}" + _missing(col)


def _missing(col: ColumnProfile) -> str:
    return f"; {col.missing / col.rows:.0%} empty" if col.missing else ""
