"""Refuse direct identifiers: the extract must be pseudonymised before it reaches the pipeline.

Checked in every column of every table, mapped or not (the extract should hold no identifiers even
where the pipeline does not read):

- column names that say they hold a direct identifier: personal name, e-mail, phone, National
  Insurance number, address, date of birth (``dob``, ``client_dob``, ``birth_dt``, ``DateOfBirth``;
  ``birth_year``, ``birth_cohort``, ``country_of_birth`` and ``age_band`` are not refused);
- values that look like an e-mail address, a UK phone number (``07700 900123``, ``(020) 7946 0958``,
  ``+44 (0)20 ...``, ``0044 ...``, ``447700900123``, ``07700.900.123``), a National Insurance number
  (``QQ 12 34 56 C``, ``QQ-12-34-56-C``, ``QQ 123 456 C``) or a full UK postcode (``SW1A 1AA``,
  ``sw1a-1aa.``, ``SW1A 1AA (home)``, or one at the end of an address), in text columns of any arrow
  type (string, large_string, string_view, dictionary as Parquet stores pandas ``category``);
- numeric columns, and text columns of digits only, in which at least half the values are UK mobile
  numbers whose leading 0 was lost (``7700900123``) or numbers with the 44 country code
  (``447700900123``): other numbers are not matched, since ids and measurements can look alike;
- in the identifier columns (client_id, worker_id, contact_id) and the categorical covariates only:
  personal names. A value is a name when, after folding accents and case ("Seán" is "sean") and
  turning "SMITH, Mary" into "mary smith", it is 2 to 4 words of letters (apostrophes and hyphens
  allowed: "Mary O'Brien", "Jean-Pierre Dubois"), its first word is a listed first name or a title
  (Mr, Mrs, Dr, ...), and none of its words is a place, service or category word
  (:data:`LABEL_WORDS`: "Forest Gate", "Victoria Park", "Grace Court", "Roman Catholic" pass). The
  list (``data/first_names.txt``, about 10,000 names) says where it comes from.

One value that matches refuses its whole column: a column with identifiers in some rows is not
trusted in the others. A label that the name rule refuses but that the user has checked (a ward
named after a person: "William Morris") is listed under ``extract.not_names`` and exempt from the
name rule only. Not detected: names in other text columns (site, service, outcome labels,
free text: do not export free text); a surname alone ("Smith"), a first name alone ("Mary"),
"SMITH Mary" without the comma, initials ("J. Smith" unless "Mr J. Smith"), names in non-Latin
scripts, names whose first name is not listed, or whose other words are all place words ("Mary
Green"; a column of names is still refused when any other value in it is found); phone numbers of
other countries; dates of birth under an ordinary column name; NHS numbers and other ten-digit
numbers (a checksum passes for one random number in eleven, so ids would be refused). A postcode
district ("E1", "E14", "SW1A") is allowed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deepvalue.extract.checks import Collector

# Checked against the column name with camelCase split, lower-cased, and anything but letters and
# digits turned into underscores ("ClientDOB" -> "client_dob", "NI Number" -> "ni_number").
IDENTIFIER_COLUMN_NAMES: dict[str, str] = {
    "personal name": r"^((first|last|given|family|full|middle|sur|fore|client|worker|staff|"
    r"adviser|advisor|caseworker|person|patient|maiden)_?)?names?$|^surname$|^forenames?$",
    "e-mail address": r"e_?mail",
    "phone number": r"phone|mobile|^tel(ephone)?(_?(no|number))?$",
    "National Insurance number": r"^ni(_?(no|num|number))?$|^nino$|national_?insurance",
    "address": r"address|^street",
    # dob anywhere ("client_dob", "dob_client", "clientdob") but not a year of birth ("dob_year")
    "date of birth": r"dob(?!_(year|yr|decade))(_|$)|(^|_)d_o_b(_|$)|date_?of_?birth|birth_?(date|dt|day)(_|$)",
}

# RE2 patterns (arrow compute), each matched against the distinct values of a text column.
_SEP = r"[\s.\-()]{0,3}"  # between the digits of a phone number: "07700 900123", "(020) 7946-0958"
_NOTE = r"\s*(\([^)]*\))?[\s.,;]*$"  # a trailing note or full stop: "SW1A 1AA (home)", "sw1a 1aa."
IDENTIFIER_VALUE_PATTERNS: dict[str, str] = {
    "e-mail address": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "phone number": r"^\s*((\+|00)\s*44\s*(\(\s*0\s*\)\s*)?[1-9]" + f"({_SEP}\\d){{8,9}}"
    r"|44[\s.-]?7([\s.-]?\d){9}"
    r"|\(?\s*0[1-9]" + f"({_SEP}\\d){{8,9}})" + _NOTE,
    "National Insurance number": r"(?i)^\s*[A-Z]{2}([\s.-]?\d){6}[\s.-]?[A-D]" + _NOTE,
    # anywhere in the value, as a whole word, so that an address is found by its postcode
    "full postcode": r"(?i)(^|[^A-Z0-9])"
    r"([A-PR-UWYZ][A-HK-Y]?[0-9][A-Z0-9]?[\s-]*[0-9][ABD-HJLNP-UW-Z]{2}|GIR[\s-]*0AA)([^A-Z0-9]|$)",
}

# A UK mobile number that lost its leading 0 (a phone column saved as numbers), for the
# at-least-half rule; numbers with the 44 country code are matched by range in numeric columns.
_DIGITS_PHONE = r"^\s*(44)?7[1-9]\d{8}(\.0+)?\s*$"
_NUMERIC_PHONE_RANGES = ((7_100_000_000, 8_000_000_000), (441_000_000_000, 448_000_000_000))
#: Share of a column's non-empty values that must look like phone numbers stored as numbers.
NUMERIC_PHONE_SHARE = 0.5

# Only values made of letters, spaces and name punctuation, with two words at least, can be names.
_NAME_SHAPE = r"^[\pL\pM'’‘`´.,()\s-]*\pL[\pM'’‘`´.]*[\s,]+[\s(]*\pL[\pL\pM'’‘`´.,()\s-]*$"
_NAME_WORDS = r"^[a-z]+(['-][a-z]+)*( [a-z]+(['-][a-z]+)*){1,3}$"
TITLES = ("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lady", "lord", "rev")

#: Words of place, service and category labels: a value with any of them is not a personal name.
#: Most are not surnames; some are ("Hill", "Green", "Wood"), and a name such as "Mary Green" is
#: then missed, but a column of names is refused by its other values.
LABEL_WORDS = frozenset(
    """
    street road lane avenue way close crescent drive court place square terrace gardens garden grove
    park parks green hill heath end gate town city village estate market docks dock wharf quay bridge
    cross fields field common marsh wood woods forest valley river island islands isle coast bay row
    walk rise mews yard parade lodge house hall tower palace church chapel centre center station
    harbour north south east west central upper lower little great new old high ham wick downs
    kings queens queen's royal saint st san santa sao republic kingdom states united leone leonean
    lanka kong arabia rica rico salvador tobago barbuda herzegovina guinea faso bissau verde leste
    zealand africa african america american caribbean asian asia british irish english scottish
    welsh european arab white black other mixed any background ethnic catholic muslim
    jewish orthodox protestant baptist methodist pentecostal hindu sikh buddhist religion
    support rights work works working advice service services team hub project programme program
    club group scheme training skills health care housing benefit benefits money debt employment
    welfare youth family families children child people adults adult women men carers community
    outreach drop referral partnership network trust foundation charity society association council
    office officer bank plus allowance credit payment pension start help classes class course
    mentoring coaching inclusion prescribing leavers horizons pathways forward ready access connect
    steps step future futures life living well wellbeing recovery therapy clinic school college
    academy university intake cohort term writing unit zone area region district borough
    not known unknown stated say prefer none no yes male female binary non disclosed full part time
    long short self employed unemployed inactive retired student tenant rented private owner
    occupier temporary accommodation sleeping surfing hours zero risk level band stage phase wave
    year month week day period line lines railway overground upon thames creek springs rio santo
    of and or the to for in on at by with from
    """.split()
)

#: Values looked at to decide whether a column is mostly distinct (see identifier_value_hits).
DISTINCT_PROBE = 100_000


@functools.cache
def first_names() -> pa.Array:
    """The listed first names (lower-case, ASCII-folded), from ``data/first_names.txt``."""
    text = resources.files("deepvalue.extract").joinpath("data/first_names.txt").read_text(encoding="utf-8")
    return pa.array(sorted({w for w in text.split("\n") if w and not w.startswith("#")}), pa.string())


@functools.cache
def _label_words() -> pa.Array:
    return pa.array(sorted(LABEL_WORDS), pa.string())


def identifier_column_kind(column: str) -> str | None:
    """The kind of direct identifier a column name announces, or None.

    >>> identifier_column_kind("ClientDOB"), identifier_column_kind("birth_year")
    ('date of birth', None)
    """
    norm = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", column.strip())
    norm = re.sub(r"[^a-z0-9]+", "_", norm.lower()).strip("_")
    for kind, pattern in IDENTIFIER_COLUMN_NAMES.items():
        if re.search(pattern, norm):
            return kind
    return None


def fold_label(values: pa.Array) -> pa.Array:
    """Accents, case and runs of spaces folded, ends trimmed: how ``extract.not_names`` is compared.

    >>> fold_label(pa.array(["  William  MORRIS ", "Seán"])).to_pylist()
    ['william morris', 'sean']
    """
    s = pc.utf8_lower(pc.replace_substring_regex(pc.utf8_normalize(values, "NFKD"), r"\pM+", ""))
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(s, r"\s+", " "))


def person_name_mask(values: pa.Array) -> np.ndarray:
    """Which of `values` (text) look like a personal name (see the module docstring), vectorised.

    >>> person_name_mask(pa.array(["SMITH, Mary", "Seán Murphy", "Forest Gate", "C000123"])).tolist()
    [True, True, False, False]
    """
    s = pc.utf8_lower(pc.replace_substring_regex(pc.utf8_normalize(values, "NFKD"), r"\pM+", ""))
    s = pc.replace_substring_regex(s, r"[’‘`´]", "'")
    s = pc.replace_substring_regex(s, r"\([^)]*\)|\.", " ")  # a note in brackets; the dot of "J."
    s = pc.utf8_trim(s, " \t\r\n,;:")
    s = pc.replace_substring_regex(s, r"^([^,]+?)\s*,\s*([^,]+)$", r"\2 \1")  # "smith, mary" -> "mary smith"
    s = pc.utf8_trim_whitespace(pc.replace_substring_regex(s, r"\s+", " "))
    first = pc.replace_substring_regex(s, r" .*$", "")
    listed = pc.or_(
        pc.is_in(first, value_set=first_names()),
        pc.or_(
            pc.is_in(pc.replace_substring_regex(first, r"-.*$", ""), value_set=first_names()),  # "mary-jane"
            pc.is_in(first, value_set=pa.array(TITLES)),
        ),
    )
    mask = np.asarray(pc.and_(pc.match_substring_regex(s, _NAME_WORDS), listed).to_numpy(zero_copy_only=False))
    mask = mask.astype(bool)
    words = pc.utf8_split_whitespace(pc.replace_substring(s, "-", " "))
    labelled = pc.is_in(pc.list_flatten(words), value_set=_label_words())
    owners = np.asarray(pc.list_parent_indices(words))[np.asarray(labelled.to_numpy(zero_copy_only=False), bool)]
    mask[owners] = False
    return mask


def _textual(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_binary_view(kind)
    )


def _text(values: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """Text as string or large_string (the types the regex kernels take); None if not text."""
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return values
    if pa.types.is_string_view(kind):
        return pc.cast(values, pa.string())
    if _textual(kind):
        try:
            return pc.cast(values, pa.large_string())
        except pa.ArrowInvalid:  # not UTF-8: bytes, not text
            return None
    return None


def _matched_values(
    distinct: pa.Array | pa.ChunkedArray, names: bool, not_names: pa.Array | None = None
) -> dict[str, pa.Array]:
    """The distinct values that match each pattern, by kind (``"_digits"``: mobile numbers without 0).

    ``not_names``: folded labels (:func:`fold_label`) exempt from the personal-name pattern only.
    """
    patterns = dict(IDENTIFIER_VALUE_PATTERNS, _digits=_DIGITS_PHONE)
    if names:
        patterns["personal name"] = _NAME_SHAPE
    # one pass of all patterns over every distinct value, then each pattern over the few that hit
    anything = "|".join(f"(?:{p})" for p in patterns.values())
    suspects = pc.filter(distinct, pc.match_substring_regex(distinct, anything))
    found: dict[str, pa.Array] = {}
    if len(suspects) == 0:
        return found
    for kind, pattern in patterns.items():
        matched = pc.filter(suspects, pc.match_substring_regex(suspects, pattern))
        if kind == "personal name" and len(matched):
            text = pc.cast(matched, pa.string())
            name = person_name_mask(text)
            if not_names is not None and len(not_names):
                name &= ~np.asarray(
                    pc.is_in(fold_label(text), value_set=not_names).to_numpy(zero_copy_only=False), bool
                )
            matched = pc.filter(matched, pa.array(name))
        if len(matched):
            found[kind] = matched
    return found


def _numbers_look_like_phones(numbers: np.ndarray) -> np.ndarray:
    """Positions of numbers that are UK phone numbers stored as numbers, when at least half are."""
    valid = ~np.isnan(numbers)
    phone = np.zeros(numbers.shape, dtype=bool)
    whole = valid & (numbers == np.floor(np.where(valid, numbers, 0)))
    for low, high in _NUMERIC_PHONE_RANGES:
        phone |= whole & (numbers >= low) & (numbers < high)
    if not phone.any() or phone.sum() < NUMERIC_PHONE_SHARE * valid.sum():
        return np.array([], dtype=np.int64)
    return np.flatnonzero(phone)


def _rows(hits: dict[str, np.ndarray], valid: int) -> dict[str, np.ndarray]:
    """Merge the stored-as-number phones into the phone hits when they are at least half the values."""
    digits = hits.pop("_digits", None)
    if digits is not None and digits.size >= NUMERIC_PHONE_SHARE * valid:
        phones = hits.get("phone number", np.array([], dtype=np.int64))
        hits["phone number"] = np.union1d(phones, digits)
    return hits


def _dictionary_hits(values: pa.ChunkedArray, names: bool, not_names: pa.Array | None) -> dict[str, np.ndarray]:
    """Match a dictionary column's dictionary, then map the matched entries to rows by code."""
    values = values.unify_dictionaries()
    if values.num_chunks == 0:
        return {}
    dictionary = _text(pa.chunked_array([values.chunk(0).dictionary]))
    found = _matched_values(dictionary, names, not_names) if dictionary is not None and len(dictionary) else {}
    if not found:
        return {}
    codes = np.concatenate(
        [np.asarray(pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False), np.int64) for c in values.chunks]
    )
    hits = {}
    for kind, matched in found.items():
        entry = np.zeros(len(dictionary) + 1, dtype=bool)  # the last entry stands for null (code -1)
        entry[:-1] = np.asarray(pc.is_in(dictionary, value_set=matched).to_numpy(zero_copy_only=False), dtype=bool)
        rows = np.flatnonzero(entry[codes])
        if rows.size:
            hits[kind] = rows
    return _rows(hits, len(values) - values.null_count)


def identifier_value_hits(
    values: pa.ChunkedArray | pa.Array, names: bool = False, not_names: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """Positions (0-based) of values that look like a direct identifier, by kind.

    `names`: also look for personal names (identifier columns and categorical covariates, whose
    values must never be people), except the values of `not_names` (``extract.not_names``: labels the
    user checked, compared after :func:`fold_label`). Only distinct values are matched, then mapped back to rows, so a
    column of a few thousand categories over millions of rows costs little; a dictionary column
    (pandas ``category`` in Parquet) is matched on its dictionary. A column of mostly distinct
    values (ids) is matched as it is: hashing 8 million distinct strings to find them takes several
    times longer than the patterns. Which path a column takes depends only on its first values, and
    both find the same rows.
    """
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    allowed = fold_label(pa.array(list(not_names), pa.string())) if not_names else None
    if pa.types.is_dictionary(values.type):
        if not _textual(values.type.value_type):  # a category of numbers or dates: its values
            return identifier_value_hits(pc.cast(values, values.type.value_type), names)
        return _dictionary_hits(values, names, allowed)
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_decimal(values.type):
        numbers = np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
        phones = _numbers_look_like_phones(numbers)
        return {"phone number": phones} if phones.size else {}
    text = _text(values)
    if text is None:  # dates, booleans, nested types: nothing to match
        return {}
    head = text.slice(0, DISTINCT_PROBE)
    mostly_distinct = len(head) and pc.count_distinct(head).as_py() > len(head) // 2
    distinct = text.drop_null() if mostly_distinct else pc.unique(text).drop_null()
    hits = {}
    for kind, matched in _matched_values(distinct, names, allowed).items():
        rows = pc.is_in(text, value_set=matched).to_numpy(zero_copy_only=False)
        hits[kind] = np.flatnonzero(np.asarray(rows, dtype=bool))
    return _rows(hits, len(text) - text.null_count)


def check_identifiers(
    opened: dict, col: Collector, covariates: tuple, id_columns: tuple[str, ...], not_names: Sequence[str] = ()
) -> None:
    """Refuse columns whose name or values look like direct identifiers (deepvalue.extract.identifiers).

    Every column of every table is checked for e-mails, phones, NI numbers and postcodes; the
    identifier columns and the clients' categorical covariates for personal names too, except the
    labels of `not_names` (``extract.not_names``). One matching value refuses its column, and the
    problem counts the rows that matched. `opened` maps a table to (arrow table, canonical -> file
    column, path); problems go to `col`.
    """
    categorical = {c.name for c in covariates if c.type == "categorical"}
    for name, (table, mapping, path) in opened.items():
        id_sources = {mapping[c] for c in id_columns if c in mapping}
        label_sources = categorical if name == "clients" else set()
        for column in table.column_names:
            kind = identifier_column_kind(column)
            if kind:
                col.add(
                    name,
                    column,
                    f"the column name suggests a direct identifier ({kind})",
                    "remove the column from the extract (the pipeline needs pseudonymised data only)",
                    path=str(path),
                )
                continue
            hits = identifier_value_hits(table[column], names=column in id_sources | label_sources, not_names=not_names)
            if not hits:
                continue
            kinds = (
                ", ".join(hits)
                if len(hits) == 1
                else ", ".join(f"{k} in {v.size} row{'s' * (v.size != 1)}" for k, v in hits.items())
            )
            if column in id_sources:
                fix = "pseudonymise every value of the column before export (codes such as C000123 or W0042)"
            elif column in label_sources:
                fix = (
                    "replace the labels with codes (e.g. W01 for a keyworker) before export, or remove the "
                    "covariate from the config and the column from the extract"
                )
                if "personal name" in hits:
                    fix += (
                        "; if a value is a label and not a person (a ward or building named after someone), "
                        "check every one of the rows and list the value under extract.not_names"
                    )
            else:
                fix = (
                    "remove the column from the extract, or the identifiers from every row (postcode "
                    "districts such as 'E1' are fine; full postcodes are not)"
                )
            col.add(
                name,
                column,
                f"values look like a direct identifier ({kinds}); the whole column is refused (a column "
                "with identifiers in some rows is not trusted in the others)",
                fix,
                positions=np.unique(np.concatenate(list(hits.values()))),
                path=str(path),
            )
