"""Typed, frozen settings: the validated config as one dataclass per section.

The config is validated once (:func:`deepvalue.core.config.load_config`: JSON Schema with
defaults, cross-key checks) and then turned into :class:`Settings`. Library functions take the
settings objects they read (an :class:`ExposureSettings`, a tuple of :class:`Outcome`), never
the raw dict, and the option strings are ``Literal`` types, as in pyfixest's ``literals.py``.

A workflow rule receives only the config sections it reads (``params: settings=...`` in
``workflow/rules/*.smk``), so that changing one key reruns only the rules that read it and what
lies downstream. :meth:`Settings.from_sections` builds the settings of such a rule; a section it
was not given is a :class:`NotGiven` placeholder whose first use raises an error that names the
section, so a rule that reads more than its params carry fails loudly in the tests rather than
silently missing a rerun.

>>> s = Settings.from_sections({"exposure": {"index": "upc", "threshold": 0.75,
...                                           "window_contacts": 4, "window_max_days": 120}})
>>> s.exposure.threshold
0.75
>>> s.matching.caliper
Traceback (most recent call last):
...
deepvalue.core.errors.ConfigError: deepvalue: this step was not given the config it reads (1 problem):
  1. config, key 'matching': section 'matching' is read but not among this step's settings
    fix: add 'matching' to the rule's settings in workflow/rules/*.smk (a bug: please report it)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from deepvalue.core.errors import ConfigError, Problem

TableName = Literal["clients", "contacts", "outcomes", "workers", "responses"]
CovariateType = Literal["numeric", "binary", "categorical"]
OutcomeType = Literal["binary", "continuous", "count"]
OutcomeRecording = Literal["measured", "events"]
IndexName = Literal["upc", "coc", "secon", "hhi", "mmci", "k_index"]
Penalty = Literal["none", "l2"]
MatchOrder = Literal["largest", "smallest", "random", "data"]
MethodName = Literal[
    "naive",
    "regression",
    "logit_ame",
    "poisson_ra",
    "dml",
    "within_worker_regression",
    "within_worker_aipw",
    "psm",
    "ipw",
    "aipw",
    "overlap",
    "iv",
    "departure_reduced_form",
    "dose_response",
    "dose_levels",
    "km_ipw",
]

TABLES: tuple[TableName, ...] = ("clients", "contacts", "outcomes", "workers", "responses")


class NotGiven:
    """Stands in for a config section a workflow step was not given; any use raises."""

    def __init__(self, section: str) -> None:
        object.__setattr__(self, "_section", section)

    def _fail(self) -> ConfigError:
        section = object.__getattribute__(self, "_section")
        return ConfigError(
            [
                Problem(
                    "config",
                    section,
                    f"section {section!r} is read but not among this step's settings",
                    f"add {section!r} to the rule's settings in workflow/rules/*.smk (a bug: please report it)",
                )
            ],
            headline="this step was not given the config it reads",
        )

    def __getattr__(self, name: str) -> Any:
        raise self._fail()

    def __iter__(self):
        raise self._fail()

    def __len__(self) -> int:
        raise self._fail()

    def __bool__(self) -> bool:
        raise self._fail()

    def __repr__(self) -> str:
        return f"NotGiven({object.__getattribute__(self, '_section')!r})"


#: Cell texts read as missing unless the config says otherwise (pandas' and arrow's defaults, so
#: that a file reads as it would in pandas); the ingest report counts each one per column.
DEFAULT_MISSING_VALUES: tuple[str, ...] = (
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "n/a",
    "nan",
    "null",
)


@dataclass(frozen=True)
class TableSource:
    """One extract table: its file and how to read it, and canonical name -> column name.

    ``date_format`` and ``missing_values`` of None take the extract-wide setting.
    """

    path: str
    columns: Mapping[str, str]
    sheet: str | int | None = None
    encoding: str | None = None
    delimiter: str = ","
    decimal: str = "."
    skip_rows: int = 0
    date_format: str | None = None
    missing_values: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ExtractSettings:
    clients: TableSource
    contacts: TableSource
    outcomes: TableSource
    workers: TableSource | None = None
    responses: TableSource | None = None
    date_format: str | None = None
    extract_date: str | None = None
    missing_values: tuple[str, ...] = DEFAULT_MISSING_VALUES
    not_names: tuple[str, ...] = ()  # labels the user checked that the personal-name check refuses

    def date_format_of(self, table: str) -> str | None:
        """The date format of one table's text dates: its own, else the extract's."""
        spec = getattr(self, table)
        return (spec.date_format if spec is not None else None) or self.date_format

    def tables(self) -> dict[str, TableSource]:
        """The configured tables by canonical name (workers and responses only when given)."""
        return {name: spec for name in TABLES if (spec := getattr(self, name)) is not None}


@dataclass(frozen=True)
class Covariate:
    name: str
    type: CovariateType


@dataclass(frozen=True)
class Outcome:
    """One outcome of the study.

    ``recorded``: ``measured``, one row per measured client with its value; ``events``, one
    dated row per occurrence (binary and count outcomes only), none for a client who had none.
    ``services``: the services it applies to (None: all). ``time_to_event``: km_ipw's time from
    the index date to the first occurrence, with incomplete follow-up censored at the extract date
    (``recorded: events`` binary outcomes; the default there).
    """

    name: str
    type: OutcomeType
    follow_up_days: int = 365
    recorded: OutcomeRecording = "measured"
    services: tuple[str, ...] | None = None
    time_to_event: bool = False


QuestionnaireRole = Literal["outcome", "mediator"]


@dataclass(frozen=True)
class Questionnaire:
    """One questionnaire entry: a published instrument read from the responses table.

    ``instrument`` names one of :data:`deepvalue.questionnaires.instruments.INSTRUMENTS`;
    ``questionnaire`` is the responses table's value for it and ``items`` its item labels in the
    instrument's published order. An outcome uses ``follow_up_days``, ``window_days`` and
    ``baseline_days``; a mediator ``measured_within_days``.
    """

    name: str
    instrument: str
    questionnaire: str
    items: tuple[str, ...]
    role: QuestionnaireRole = "outcome"
    follow_up_days: int | None = None
    window_days: int = 60
    baseline_days: int = 14
    measured_within_days: int | None = None


@dataclass(frozen=True)
class ExposureSettings:
    index: IndexName = "upc"
    threshold: float = 0.75
    window_contacts: int = 4
    window_max_days: int = 120


@dataclass(frozen=True)
class PropensitySettings:
    penalty: Penalty = "none"
    C: float = 1.0


@dataclass(frozen=True)
class MatchingSettings:
    caliper: float | None = 0.2
    ratio: int = 1
    replace: bool = True
    exact: tuple[str, ...] = ("service",)
    order: MatchOrder = "random"
    min_matched: int = 20


@dataclass(frozen=True)
class WeightingSettings:
    trim: float | None = None


@dataclass(frozen=True)
class BalanceSettings:
    smd: float = 0.1
    variance_ratio: tuple[float, float] = (0.5, 2.0)


@dataclass(frozen=True)
class DowhySettings:
    enabled: bool = True
    max_rows: int | None = 100_000
    bootstrap_replicates: int = 100
    bootstrap_max_rows: int = 10_000
    bootstrap_jobs: int = 2
    refutation_rows: int = 10_000
    simulations: int = 100
    refuters: str = "own"


@dataclass(frozen=True)
class DmlSettings:
    """DoubleML's interactive regression model (the ``dml`` rows; deepvalue.effects.dml)."""

    learner: str = "lightgbm"
    n_folds: int = 5
    n_rep: int = 3
    max_rows: int | None = 50_000
    benchmarks: tuple[str, ...] | None = None


@dataclass(frozen=True)
class JointDrawsSettings:
    """The joint multiplier bootstrap of the influence-function estimates (deepvalue.effects.joint)."""

    draws: int = 999
    methods: tuple[str, ...] = ("regression", "poisson_ra", "ipw", "aipw", "overlap")
    multipliers: str = "normal"


@dataclass(frozen=True)
class PrimarySettings:
    """The stated primary analysis (deepvalue.core.primary resolves the nulls: first outcome, the values
    file's method and estimand, else aipw ATT)."""

    outcome: str | None = None
    method: str | None = None
    estimand: str | None = None


@dataclass(frozen=True)
class HeterogeneitySettings:
    """Heterogeneous effects and targeting (deepvalue.effects.heterogeneity, deepvalue.effects.targeting)."""

    proxy_learner: str = "linear"
    splits: int = 30
    capacities: tuple[float, ...] = (0.2, 0.4, 0.6)
    min_leaf_share: float = 0.05


#: The estimands each of our methods reports (the rows of results/estimates.csv); the values file's
#: ``primary`` must name one of these pairs among the configured methods.
METHOD_ESTIMANDS: dict[str, tuple[str, ...]] = {
    "naive": ("ATE",),
    "regression": ("ATT", "ATE"),
    "logit_ame": ("ATT",),
    "poisson_ra": ("ATT", "ATE"),
    "dml": ("ATT", "ATE"),
    "within_worker_regression": ("ATT", "ATE"),
    "within_worker_aipw": ("ATT", "ATE"),
    "psm": ("ATT",),
    "ipw": ("ATT", "ATE"),
    "aipw": ("ATT", "ATE"),
    "overlap": ("ATO",),
    "iv": ("LATE",),
    "departure_reduced_form": ("ITT",),
    "dose_response": ("slope",),
    "dose_levels": ("level_contrast",),
    "km_ipw": ("ATT", "ATE"),
}


@dataclass(frozen=True)
class EstimationSettings:
    """Our estimators' choices (methods, subgroups) and DoWhy's; a rule may carry either part."""

    methods: tuple[MethodName, ...] | NotGiven = field(default_factory=lambda: NotGiven("estimation.methods"))
    subgroups: tuple[str, ...] | NotGiven = field(default_factory=lambda: NotGiven("estimation.subgroups"))
    dowhy: DowhySettings | NotGiven = field(default_factory=lambda: NotGiven("estimation.dowhy"))
    dml: DmlSettings | NotGiven = field(default_factory=lambda: NotGiven("estimation.dml"))
    joint_draws: JointDrawsSettings | NotGiven = field(default_factory=lambda: NotGiven("estimation.joint_draws"))
    heterogeneity: HeterogeneitySettings | NotGiven = field(
        default_factory=lambda: NotGiven("estimation.heterogeneity")
    )
    primary: PrimarySettings | NotGiven = field(default_factory=lambda: NotGiven("estimation.primary"))
    min_rows_per_parameter: int | NotGiven = field(
        default_factory=lambda: NotGiven("estimation.min_rows_per_parameter")
    )
    min_events_per_arm: int | NotGiven = field(default_factory=lambda: NotGiven("estimation.min_events_per_arm"))


@dataclass(frozen=True)
class MediationSettings:
    """Mediation of the questionnaire outcomes (deepvalue.effects.mediation): the ``questionnaires`` entry
    with ``role: mediator`` that carries part of the effect (None: no mediation analysis)."""

    mediator: str | None = None


@dataclass(frozen=True)
class ValueSettings:
    file: str | None = None
    draws: int = 10_000


@dataclass(frozen=True)
class DisclosureSettings:
    min_cell: int = 10
    allow_zero: bool = True


@dataclass(frozen=True)
class SyntheticSettings:
    """The bundled generator's extract (``synthetic`` in config); ``truth`` is its truth.json."""

    clients: int = 5000
    seed: int = 1
    messy: bool = False
    truth: str | None = None
    recording: str = "measured"
    scenario: str = "default"


SECTIONS = (
    "extract",
    "covariates",
    "outcomes",
    "questionnaires",
    "exposure",
    "propensity",
    "matching",
    "weighting",
    "balance",
    "estimation",
    "mediation",
    "value",
    "disclosure",
    "seed",
    "synthetic",
)


def _table(spec: Mapping[str, Any] | None) -> TableSource | None:
    if spec is None:
        return None
    missing = spec.get("missing_values")
    return TableSource(
        path=str(spec["path"]),
        columns=dict(spec["columns"]),
        sheet=spec.get("sheet"),
        encoding=spec.get("encoding"),
        delimiter=spec.get("delimiter") or ",",
        decimal=spec.get("decimal") or ".",
        skip_rows=int(spec.get("skip_rows") or 0),
        date_format=spec.get("date_format"),
        missing_values=None if missing is None else tuple(missing),
    )


def _extract(raw: Mapping[str, Any]) -> ExtractSettings:
    return ExtractSettings(
        clients=_table(raw["clients"]),
        contacts=_table(raw["contacts"]),
        outcomes=_table(raw["outcomes"]),
        workers=_table(raw.get("workers")),
        responses=_table(raw.get("responses")),
        date_format=raw.get("date_format"),
        extract_date=raw.get("extract_date"),
        missing_values=tuple(raw.get("missing_values", DEFAULT_MISSING_VALUES)),
        not_names=tuple(raw.get("not_names", ())),
    )


def _plain(cls, raw: Mapping[str, Any] | None, **convert):
    """A section dataclass from its (validated) mapping; list values become tuples."""
    raw = dict(raw or {})
    known = {f.name for f in dataclasses.fields(cls)}
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in raw.items() if k in known}
    for key, fn in convert.items():
        if key in values:
            values[key] = fn(values[key])
    return cls(**values)


def _estimation(raw: Mapping[str, Any]) -> EstimationSettings:
    values: dict[str, Any] = {}
    if "methods" in raw:
        values["methods"] = tuple(raw["methods"])
    if "subgroups" in raw:
        values["subgroups"] = tuple(raw["subgroups"])
    if "dowhy" in raw:
        values["dowhy"] = _plain(DowhySettings, raw["dowhy"])
    if "dml" in raw:
        values["dml"] = _plain(DmlSettings, raw["dml"])
    if "joint_draws" in raw:
        values["joint_draws"] = _plain(JointDrawsSettings, raw["joint_draws"])
    if "heterogeneity" in raw:
        values["heterogeneity"] = _plain(HeterogeneitySettings, raw["heterogeneity"])
    if "primary" in raw:
        values["primary"] = _plain(PrimarySettings, raw["primary"])
    for key in ("min_rows_per_parameter", "min_events_per_arm"):
        if key in raw:
            values[key] = int(raw[key])
    return EstimationSettings(**values)


def _synthetic(raw: Mapping[str, Any] | None) -> SyntheticSettings | None:
    return None if raw is None else _plain(SyntheticSettings, raw)


_PARSERS = {
    "extract": _extract,
    "covariates": lambda raw: tuple(Covariate(name=str(c["name"]), type=c["type"]) for c in raw),
    "outcomes": lambda raw: tuple(
        Outcome(
            name=str(o["name"]),
            type=o["type"],
            follow_up_days=int(o.get("follow_up_days", 365)),
            recorded=o.get("recorded", "measured"),
            services=None if o.get("services") is None else tuple(o["services"]),
            time_to_event=bool(o.get("time_to_event", o.get("recorded") == "events" and o["type"] == "binary")),
        )
        for o in raw
    ),
    "questionnaires": lambda raw: tuple(_plain(Questionnaire, q) for q in raw or ()),
    "exposure": lambda raw: _plain(ExposureSettings, raw),
    "propensity": lambda raw: _plain(PropensitySettings, raw),
    "matching": lambda raw: _plain(MatchingSettings, raw),
    "weighting": lambda raw: _plain(WeightingSettings, raw),
    "balance": lambda raw: _plain(BalanceSettings, raw),
    "estimation": _estimation,
    "mediation": lambda raw: _plain(MediationSettings, raw),
    "value": lambda raw: _plain(ValueSettings, raw),
    "disclosure": lambda raw: _plain(DisclosureSettings, raw),
    "seed": int,
    "synthetic": _synthetic,
}


@dataclass(frozen=True)
class Settings:
    """The study's settings, one typed section per config section (all of them, or a rule's)."""

    extract: ExtractSettings
    covariates: tuple[Covariate, ...]
    outcomes: tuple[Outcome, ...]
    questionnaires: tuple[Questionnaire, ...]
    exposure: ExposureSettings
    propensity: PropensitySettings
    matching: MatchingSettings
    weighting: WeightingSettings
    balance: BalanceSettings
    estimation: EstimationSettings
    mediation: MediationSettings
    value: ValueSettings
    disclosure: DisclosureSettings
    seed: int
    synthetic: SyntheticSettings | None

    @classmethod
    def from_sections(cls, sections: Mapping[str, Any]) -> Settings:
        """Settings from validated config sections (a whole config, or a rule's ``params``).

        Sections not given are :class:`NotGiven`: reading one raises a clear error.
        """
        unknown = sorted(set(sections) - set(SECTIONS))
        if unknown:
            raise ConfigError(
                [Problem("config", name, "not a config section", "see config/README.md") for name in unknown],
                headline="unknown settings",
            )
        values = {name: (_PARSERS[name](sections[name]) if name in sections else NotGiven(name)) for name in SECTIONS}
        return cls(**values)

    def outcome(self, name: str) -> Outcome:
        for spec in self.outcomes:
            if spec.name == name:
                return spec
        raise KeyError(name)


def config_sections(config: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The parts of a validated config that a rule reads, as plain data for its ``params``.

    ``names`` are section names, or ``estimation.methods`` style names for one part of the
    estimation section (so DoWhy's keys do not rerun our estimators and the other way round).
    """
    out: dict[str, Any] = {}
    for name in sorted(names):
        section, _, part = name.partition(".")
        if section not in SECTIONS:
            raise KeyError(f"not a config section: {name!r}")
        if part:
            out.setdefault(section, {})[part] = (config.get(section) or {})[part]
        else:
            out[section] = config.get(section)
    return _canonical(out)


def _canonical(value: Any) -> Any:
    """Mappings with their keys sorted, all the way down (lists keep their order): Snakemake
    compares a rule's params by their text, so keys reordered in a YAML file must not rerun it."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def load_settings(config: Any, source: str | None = None) -> Settings:
    """Validate a config (path or mapping) and return its :class:`Settings`."""
    from deepvalue.core.config import load_config

    return Settings.from_sections(load_config(config, source=source))
