"""Compose the embedded demo dataset (qcpt/data/demo/) deterministically, with no download.

The corpus is written by the project itself: fifteen topics, twenty documents each. A document is
about one entity (a comet, a drug, a volcano, a library ...) whose facts (people, places, years,
numbers) are drawn from pools with ``random.Random(42)``; its text is an introduction plus 2–7 of the
topic's other sentence templates, kept in order, so documents have 3–8 sentences. Abbreviations
("Dr.", "e.g.", "U.S.", "a.m.") and non-ASCII words ("café", "Zürich") are part of the templates, so
sentence splitting has real work to do.

Queries are written the way people search: each sentence template carries a few query phrasings
about the fact it states, some sharing most words with the sentence and some paraphrasing it, so BM25
is good but not perfect. Relevance is derived from the facts rather than from which document a query
was written for: a document is judged 2 when it states every fact the query names (same values), and
1 when it states the query's first fact but not all of them. So several documents can be relevant to
a broad query ("volcanoes built of basalt"), and each query has at least its source document.

Usage: ``python tools/make_demo_corpus.py [--out qcpt/data/demo]``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SEED = 42
DOCS_PER_TOPIC = 20
N_TRAIN_QUERIES = 200
N_TEST_QUERIES = 400
# Each document is the source of queries of one split only (no train/test leak through a source
# document): the first TRAIN_SOURCE_DOCS documents (in shuffled order) write the training queries,
# TRAIN_QUERIES_PER_DOC each; the next 200 documents write the test queries, one each per pass, in
# two passes (q201-q400, then q401-q600), so the first 200 are those of the earlier 200-query demo.
# 400 test queries let a paired t-test show a difference of about two points of nDCG@10 at
# p <= 0.05 (the demo's query-vs-span difference, +0.021, had p = 0.12 over 200).
TEST_PASS_QUERIES = 200
TRAIN_SOURCE_DOCS = 100
TRAIN_QUERIES_PER_DOC = 2
# Pre-tokens (words and punctuation marks) per document at most: one document stays one passage of
# at most 144 WordPiece tokens, so the demo has exactly 300 passages (config.yaml relies on it).
MAX_PRETOKENS = 115

FIRST = [
    "Ingrid", "Tomás", "Amara", "Kenji", "Lucía", "Henrik", "Priya", "Olusegun", "Margaret", "Élodie",
    "Dmitri", "Aisha", "Jonas", "Mei", "Rafael", "Sofia", "Bernard", "Nadia", "Wei", "Gustav",
    "Chiara", "Samuel", "Yuki", "Fatima", "Lars", "Beatriz", "Arjun", "Helen", "Matteo", "Zofia",
]
LAST = [
    "Halvorsen", "Okafor", "Brandt", "Nakamura", "Ferreira", "Lindqvist", "Mbeki", "Castellanos",
    "Whitfield", "Rosenthal", "Kowalski", "Duarte", "Abernathy", "Sørensen", "Müller", "Petrov",
    "Oyelaran", "Takahashi", "Villeneuve", "Greenhalgh", "Iyer", "Moreau", "Calloway", "Brennan",
    "Haddad", "Lindgren", "Novak", "Achterberg", "Quintero", "Fairbanks", "Yilmaz", "Delacroix",
    "Ramírez", "Thornbury", "Kaczmarek", "Osei", "Vasquez", "Hargreaves", "Eriksen", "Pemberton",
]
TITLES = ["Dr.", "Prof."]
CITIES = [
    ("Zürich", "Switzerland", "Swiss"), ("São Paulo", "Brazil", "Brazilian"),
    ("Malmö", "Sweden", "Swedish"), ("Kraków", "Poland", "Polish"), ("Montréal", "Canada", "Canadian"),
    ("Lyon", "France", "French"), ("Osaka", "Japan", "Japanese"), ("Nairobi", "Kenya", "Kenyan"),
    ("Adelaide", "Australia", "Australian"), ("Denver", "the U.S.", "American"),
    ("Edinburgh", "Scotland", "Scottish"), ("Valparaíso", "Chile", "Chilean"),
    ("Bergen", "Norway", "Norwegian"), ("Pune", "India", "Indian"), ("Córdoba", "Argentina", "Argentine"),
    ("Leipzig", "Germany", "German"), ("Porto", "Portugal", "Portuguese"), ("Tucson", "the U.S.", "American"),
    ("Reykjavík", "Iceland", "Icelandic"), ("Accra", "Ghana", "Ghanaian"),
]


@dataclass
class Sentence:
    template: str
    queries: list[list[str]] = field(default_factory=list)  # each: phrasings of one query


@dataclass
class Topic:
    name: str
    title: str
    intros: list[Sentence]
    body: list[Sentence]
    make_slots: Callable[[random.Random, int], dict[str, object]]


def S(template: str, *queries: list[str] | str) -> Sentence:  # noqa: N802 - reads like the data
    return Sentence(template, [[q] if isinstance(q, str) else list(q) for q in queries])


def person(rng: random.Random, prefix: str = "") -> dict[str, str]:
    return {f"{prefix}title": rng.choice(TITLES), f"{prefix}first": rng.choice(FIRST), f"{prefix}last": rng.choice(LAST)}


def city(rng: random.Random, prefix: str = "") -> dict[str, str]:
    name, country, adjective = rng.choice(CITIES)
    return {f"{prefix}city": name, f"{prefix}country": country, f"{prefix}nationality": adjective}


class UniquePicker:
    """Draws distinct values from a pool within one topic, so each document's entity is its own."""

    def __init__(self, rng: random.Random, pool: list[str]):
        self.values = list(pool)
        rng.shuffle(self.values)

    def __call__(self, i: int) -> str:
        return self.values[i % len(self.values)]


# --------------------------------------------------------------------------------- topics


def astronomy(rng: random.Random) -> Topic:
    names = UniquePicker(rng, LAST)

    def slots(r: random.Random, i: int) -> dict[str, object]:
        year = r.randint(1951, 2015)
        period = r.choice([6, 7, 9, 13, 28, 33, 70, 76, 110, 133, 164, 226])
        return {
            "comet": names(i), **person(r), "obs": r.choice(["Mauna Kea", "La Silla", "Kitt Peak", "Siding Spring", "Palomar", "Calar Alto"]),
            "year": year, "period": period, "next_year": 2030 + r.randint(0, 40),
            "perihelion": r.choice(["0.4", "0.6", "0.8", "1.1", "1.3"]), "nucleus": r.randint(2, 38),
            "tail": r.choice(["blue ion", "yellowish dust", "greenish", "double"]),
            **city(r, "obs_"),
            "molecule": r.choice(["hydrogen cyanide", "carbon monoxide", "methanol", "ammonia", "diatomic carbon"]),
        } | {"last": names(i)}  # comets carry their discoverer's name

    return Topic(
        "astronomy", "Comet {comet}",
        [S("Comet {comet} is a periodic comet first observed by {title} {first} {last} at the {obs} Observatory in {year}.",
           ["who discovered comet {comet}", "comet {comet} discoverer", "who first saw comet {comet}"],
           ["comet first spotted at {obs} in {year}", "{obs} observatory comet discovery {year}"]),
         S("Astronomers at {obs} recorded Comet {comet} in {year}; the discovery is credited to {title} {first} {last}.",
           ["when was comet {comet} discovered", "year comet {comet} found"],
           ["comets discovered at {obs} observatory"])],
        [S("It returns to the inner Solar System every {period} years, e.g. its next perihelion passage is expected in {next_year}.",
           ["comet {comet} orbital period", "how often does comet {comet} come back"],
           ["comet returning every {period} years", "periodic comet {period} year orbit"]),
         S("At perihelion it passes about {perihelion} AU from the Sun, close enough for its ices to sublimate vigorously.",
           ["comet {comet} closest distance to the sun", "perihelion distance of {comet}"]),
         S("Astronomers estimate the nucleus to be roughly {nucleus} km across, based on radar echoes and infrared brightness.",
           ["how big is the nucleus of comet {comet}", "comet {comet} nucleus size km"]),
         S("During its discovery apparition, amateur observers in {obs_city} photographed a striking {tail} tail.",
           ["comet {comet} tail photographed from {obs_city}", "amateur astronomers {obs_city} comet tail"],
           ["comet with a {tail} tail", "{tail} tail comet photos"]),
         S("Spectra taken by a U.S. team showed unusually high levels of {molecule} in the coma.",
           ["comets rich in {molecule}", "{molecule} detected in comet coma", "which comet has a lot of {molecule}"]),
         S("{last} later said the discovery happened almost by accident, while checking calibration frames at 3 a.m.",
           ["comet {comet} discovered by accident", "how was comet {comet} found"]),
         S("Some researchers suspect the comet is a fragment of a larger body that broke apart thousands of years ago."),
         S("Like most comets, it is named after its discoverer, following the convention of the International Astronomical Union."),
         ],
        slots,
    )


def cooking(rng: random.Random) -> Topic:
    dishes = UniquePicker(rng, [
        "saffron barley risotto", "smoked trout rillettes", "cardamom rye buns", "black bean feijoada",
        "spiced lentil dhal", "rösti with chanterelles", "lamb and quince tagine", "buckwheat blini",
        "jalapeño cornbread", "miso glazed aubergine", "chestnut gnocchi", "fennel and orange salad",
        "pierogi with sauerkraut", "coconut fish curry", "plum dumplings", "smoked paprika goulash",
        "crème brûlée with lavender", "sourdough rye crispbread", "peanut groundnut stew", "herring in mustard sauce",
        "pumpkin empanadas", "yuzu cheesecake",
    ])

    def slots(r: random.Random, i: int) -> dict[str, object]:
        return {
            "dish": dishes(i), **city(r), **person(r, "c"),
            "ingredient": r.choice(["smoked pork", "wild mushrooms", "dried chickpeas", "brown butter", "root vegetables", "salted cod", "goat cheese"]),
            "cafe": r.choice(LAST), "lighter_year": r.randint(1978, 2019),
            "temp": r.choice([160, 175, 180, 190, 200, 220]), "minutes": r.choice([25, 35, 40, 45, 60, 90]),
            "spice": r.choice(["nutmeg", "sumac", "star anise", "smoked paprika", "caraway", "fenugreek", "cardamom"]),
            "side": r.choice(["rice", "pickled cabbage", "flatbread", "polenta", "boiled potatoes"]),
            "century": r.choice(["16th", "17th", "18th", "19th"]),
        }

    return Topic(
        "cooking", "{dish}",
        [S("{dish} is a traditional dish from {city}, where it is served at family gatherings and in small cafés.",
           ["where does {dish} come from", "{dish} origin", "{dish} recipe {city}"],
           ["traditional dishes from {city}", "what food is {city} known for"]),
         S("Home cooks in {city} have made {dish} for generations, and every family claims its own version.",
           ["{dish} history {city}", "{dish} family recipe"],
           ["regional food of {city}"])],
        [S("The recipe relies on {ingredient}, which is browned slowly before any liquid is added.",
           ["main ingredient in {dish}", "what goes into {dish}"],
           ["recipes that use {ingredient}", "dishes made with {ingredient}"]),
         S("Chef {cfirst} {clast} of Café {cafe} popularized a lighter version in {lighter_year}, e.g. replacing cream with yogurt.",
           ["lighter version of {dish} with yogurt", "healthier {dish} recipe"],
           ["café {cafe} signature dish"]),
         S("It is usually baked at {temp} °C for about {minutes} minutes.",
           ["how long to bake {dish}", "{dish} oven temperature", "{dish} cooking time minutes"]),
         S("A pinch of {spice} gives the dish its characteristic aroma.",
           ["recipes seasoned with {spice}", "dishes flavoured with {spice}"],
           ["what spice is in {dish}", "{dish} {spice}"]),
         S("Leftovers keep for two days in the refrigerator, although most cooks say it tastes better on the second day."),
         S("In the U.S. the dish is often served with {side} instead of bread.",
           ["what to serve with {dish}", "{dish} side dish"]),
         S("Food historians trace the recipe to the {century} century, when {ingredient} was cheap and widely available.",
           ["history of {dish}", "how old is the {dish} recipe"],
           ["recipes dating from the {century} century"]),
         S("Vegetarian versions are common today, and some restaurants serve it as a small starter."),
         ],
        slots,
    )


def medicine(rng: random.Random) -> Topic:
    drugs = UniquePicker(rng, [
        ("velorimab", "monoclonal antibody"), ("tazoparin", "anticoagulant"), ("dermacitinib", "kinase inhibitor"),
        ("lunavir", "antiviral"), ("oxatrelin", "hormone analogue"), ("brevacaine", "local anaesthetic"),
        ("cordipril", "ACE inhibitor"), ("semastatin", "statin"), ("fluvoxiran", "antidepressant"),
        ("ketorimab", "monoclonal antibody"), ("nephrocitinib", "kinase inhibitor"), ("galvaprazole", "proton pump inhibitor"),
        ("artemizone", "antimalarial"), ("pulmotrol", "bronchodilator"), ("glucaflozin", "SGLT2 inhibitor"),
        ("migranex", "triptan"), ("osteodronate", "bisphosphonate"), ("hepaclovir", "antiviral"),
        ("somnirexant", "orexin antagonist"), ("tremolidine", "dopamine agonist"),
    ])  # type: ignore[arg-type]

    def slots(r: random.Random, i: int) -> dict[str, object]:
        drug, drugclass = drugs(i)  # type: ignore[misc]
        return {
            "drug": drug, "drugclass": drugclass, **person(r), **city(r),
            "condition": r.choice(["type 2 diabetes", "rheumatoid arthritis", "migraine", "chronic kidney disease",
                                   "asthma", "hypertension", "psoriasis", "hepatitis C", "osteoporosis", "insomnia"]),
            "trial": r.choice(["ARCTIC", "BEACON", "SUMMIT", "HORIZON", "LANTERN", "ORBIT"]) + f"-{r.randint(2, 4)}",
            "patients": r.choice([240, 412, 780, 1150, 1830, 2600]), "weeks": r.choice([12, 24, 26, 52]),
            "pct": r.randint(18, 61), "sidefx": r.choice(["headache", "nausea", "mild dizziness", "skin rash", "fatigue", "dry mouth"]),
            "oneinn": r.choice([8, 10, 12, 15, 20]), "dose": r.choice([5, 10, 25, 50, 100, 200]),
            "reviewyear": r.randint(2025, 2028),
        }

    return Topic(
        "medicine", "{drug}",
        [S("{drug} is an experimental {drugclass} developed for the treatment of {condition}.",
           ["what is {drug} used for", "{drug} indication", "{drug} drug class"],
           ["new treatments for {condition}", "experimental drugs for {condition}", "{condition} new medication"]),
         S("The {drugclass} {drug} is being tested in adults with {condition} who did not respond to standard therapy.",
           ["{drug} clinical use", "is {drug} approved"],
           ["{condition} treatment resistant options"])],
        [S("In the {trial} trial, led by {title} {first} {last} in {city}, {patients} patients received either {drug} or a placebo.",
           ["{trial} trial results", "{drug} phase trial {city}", "who led the {trial} study"],
           ["clinical trials in {city}"]),
         S("After {weeks} weeks, symptoms fell by {pct}% in the treatment group, i.e. roughly twice the placebo effect.",
           ["how effective is {drug}", "{drug} efficacy versus placebo"]),
         S("The most common side effect was {sidefx}, reported by about one patient in {oneinn}.",
           ["{drug} side effects", "does {drug} cause {sidefx}", "adverse effects of {drug}"],
           ["medications that cause {sidefx}"]),
         S("The recommended dose is {dose} mg once daily, taken with food.",
           ["{drug} dosage", "how much {drug} to take per day", "{drug} {dose} mg"]),
         S("Regulators in the U.S. and the E.U. are expected to review the data in {reviewyear}.",
           ["when will {drug} be approved", "{drug} regulatory review"]),
         S("Doctors caution that the long-term safety of the drug is still unknown."),
         S("Unlike older treatments, it does not require monthly blood tests, which patients welcomed.",
           ["{drug} blood tests", "{condition} drug without blood monitoring"]),
         ],
        slots,
    )


def geology(rng: random.Random) -> Topic:
    names = UniquePicker(rng, [
        "Mount Tavrena", "Kelduhnúkur", "Cerro Ñandú", "Mount Oshiro", "Volcán Piedra Azul", "Mount Karangi",
        "Hverafjall Ridge", "Mount Elgarth", "Sierra Quemada", "Mount Tamboreo", "Bjarnafell", "Mount Ulugan",
        "Cerro Tololo Viejo", "Mount Kessik", "Puy de Vaurent", "Mount Aratoa", "Volcán Chinchay", "Mount Hraun",
        "Nevado Sallqa", "Mount Ibaru",
    ])

    def slots(r: random.Random, i: int) -> dict[str, object]:
        erupt = r.randint(1783, 2021)
        return {
            "volcano": names(i), **person(r),
            "vtype": r.choice(["stratovolcano", "shield volcano", "caldera", "cinder cone", "lava dome"]),
            "region": r.choice(["southern Iceland", "the central Andes", "northern Japan", "the Kamchatka Peninsula",
                                "the Aleutian arc", "central Mexico", "eastern Indonesia", "the Massif Central"]),
            "height": r.randint(640, 5900), "erupt_year": erupt, **city(r, "ash"),
            "rock": r.choice(["basalt", "andesite", "rhyolite", "dacite", "trachyte"]), "vei": r.randint(1, 6),
            "mon_year": r.randint(1995, 2018), "spring": r.choice([38, 42, 55, 68, 81, 94]), "length": r.choice([2, 4, 7, 11, 15]),
        }

    return Topic(
        "geology", "{volcano}",
        [S("{volcano} is a {vtype} in {region}, rising {height} m above sea level.",
           ["how tall is {volcano}", "{volcano} elevation", "{volcano} height in metres"],
           ["volcanoes in {region}", "{vtype} in {region}"]),
         S("Rising to {height} m, the {vtype} {volcano} is one of the best studied volcanoes in {region}.",
           ["{volcano} summit height", "where is {volcano}"],
           ["active volcanoes of {region}"])],
        [S("Its last major eruption, in {erupt_year}, sent ash as far as {ashcity}.",
           ["when did {volcano} last erupt", "{volcano} last eruption year", "{volcano} eruption {erupt_year}"],
           ["volcanic ash reached {ashcity}", "eruption ash fall {ashcity}"]),
         S("The volcano is built mostly of {rock}, with thin layers of volcanic glass between the flows.",
           ["volcanoes made of {rock}", "{rock} volcano", "what rock is {volcano} made of"]),
         S("Geologists rate the {erupt_year} event at {vei} on the Volcanic Explosivity Index.",
           ["{volcano} VEI", "how explosive was the {volcano} eruption", "{volcano} explosivity index"]),
         S("{title} {first} {last} has monitored the summit with GPS stations since {mon_year}, e.g. measuring uplift of a few millimetres per month.",
           ["who monitors {volcano}", "{volcano} ground deformation GPS", "volcano uplift measurements {volcano}"]),
         S("Hot springs on the eastern flank reach {spring} °C and are popular with hikers.",
           ["{volcano} hot springs", "hot spring temperature on {volcano}", "hiking {volcano} hot springs"]),
         S("Local farmers value the fertile soils that formed on its older lava flows."),
         S("A {length} km long fissure on the southern slope opened during an earthquake swarm.",
           ["{volcano} fissure", "earthquake swarm fissure {volcano}", "how long is the fissure on {volcano}"]),
         ],
        slots,
    )


def history(rng: random.Random) -> Topic:
    places = UniquePicker(rng, [
        "Vellenhof", "Saint-Aubrac", "Kolberga", "Marienthal", "Oszlany", "Ravensholm", "Castelbruno", "Dunmore Ford",
        "Lindau Bridge", "Tervanen", "Grünwald Abbey", "Porto Vecchio", "Skellby", "Alcarria", "Brodnica",
        "Hollowmere", "Valdoria", "Kirkwall Sound", "Montalbán", "Zwettlau",
    ])
    realms = ["the Kingdom of Dalmar", "the Duchy of Varenne", "the Republic of Castrelo", "the Electorate of Hessmark",
              "the Grand Duchy of Lodva", "the Kingdom of Norrland", "the Free City of Brell", "the Principality of Ostria"]

    def slots(r: random.Random, i: int) -> dict[str, object]:
        p1, p2 = r.sample(realms, 2)
        year = r.randint(1320, 1795)
        return {
            "place": places(i), "year": year, "party1": p1, "party2": p2, **person(r, "n"), **person(r, "h"),
            "issue": r.choice(["a river border", "fishing rights", "salt mines", "trade tariffs", "a mountain pass", "grazing land"]),
            "amount": r.choice([12000, 40000, 85000, 150000, 300000]), "instal": r.choice([3, 5, 10, 20]),
            "duration": r.choice([7, 12, 19, 31, 48, 66]), "archive": r.choice(["Vienna", "Kraków", "Lyon", "Leipzig", "Porto", "Zürich"]),
        }

    return Topic(
        "history", "Treaty of {place}",
        [S("The Treaty of {place} was signed in {year} between {party1} and {party2}.",
           ["treaty of {place}", "when was the treaty of {place} signed", "{place} treaty {year}"],
           ["treaties signed by {party1}", "peace agreements of {party1}"]),
         S("Signed in {year}, the Treaty of {place} ended hostilities between {party1} and {party2}.",
           ["treaty of {place} date", "{place} peace agreement"],
           ["{party1} {party2} treaty"])],
        [S("It settled a long dispute over {issue} that had caused repeated skirmishes.",
           ["what did the treaty of {place} settle", "{place} treaty dispute"],
           ["historic treaties about {issue}", "disputes over {issue} treaty"]),
         S("The chief negotiator, {nfirst} {nlast}, reportedly drafted most clauses in a single night.",
           ["who negotiated the treaty of {place}", "{place} treaty negotiator"]),
         S("Under its terms, {party2} paid an indemnity of {amount} silver marks over {instal} years.",
           ["treaty of {place} indemnity", "how much did {party2} pay in the treaty of {place}"],
           ["war indemnity {amount} silver marks"]),
         S("The peace held for {duration} years before war broke out again.",
           ["how long did the treaty of {place} last", "{place} peace duration"]),
         S("The original parchment is kept in the state archive in {archive}, where it can be viewed by appointment.",
           ["where is the treaty of {place} kept", "original document treaty of {place}"],
           ["historic treaties in the {archive} archive"]),
         S("Historians, e.g. {htitle} {hfirst} {hlast}, argue that its importance has been overstated.",
           ["historians on the treaty of {place}", "significance of the treaty of {place}"]),
         S("Some clauses were written in Latin, others in the local vernacular."),
         ],
        slots,
    )


def sports(rng: random.Random) -> Topic:
    sports_ = {
        "marathon runner": ("marathon", lambda r: f"2:{r.randint(4, 12):02d}:{r.randint(0, 59):02d}", ["the Berlin Marathon", "the world championships", "the Olympic Games"]),
        "rower": ("single sculls", lambda r: f"6:{r.randint(38, 59):02d}", ["the World Rowing Cup", "the European championships", "the Olympic Games"]),
        "speed skater": ("500 metres", lambda r: f"{r.randint(34, 38)}.{r.randint(0, 99):02d} seconds", ["the World Cup final", "the Winter Olympics", "the world sprint championships"]),
        "swimmer": ("200 m freestyle", lambda r: f"1:{r.randint(43, 58)}.{r.randint(0, 99):02d}", ["the Commonwealth Games", "the world championships", "the Olympic Games"]),
        "cyclist": ("hour record", lambda r: f"{r.randint(48, 55)}.{r.randint(0, 999):03d} km", ["the Tour de Suisse", "the track world championships", "the Olympic Games"]),
    }
    used: set[tuple[str, str]] = set()

    def slots(r: random.Random, i: int) -> dict[str, object]:
        while True:
            first, last = r.choice(FIRST), r.choice(LAST)
            if (first, last) not in used:
                used.add((first, last))
                break
        sport = r.choice(sorted(sports_))
        event_name, pb, events = sports_[sport]
        return {
            "first": first, "last": last, "sport": sport, "pb_event": event_name, "pb": pb(r), **city(r),
            "birth_year": r.randint(1985, 2003), "medal": r.choice(["gold", "silver", "bronze"]), "event": r.choice(events),
            "event_year": r.randint(2012, 2023), **city(r, "pb_"), "pb_year": r.randint(2015, 2023),
            **person(r, "c"), "coach_year": r.randint(2008, 2019), "inj_year": r.randint(2016, 2023),
            "study": r.choice(["physiotherapy", "civil engineering", "sports science", "economics", "marine biology"]),
        }

    return Topic(
        "sports", "{first} {last}",
        [S("{first} {last} is a {nationality} {sport} born in {city} in {birth_year}.",
           ["{first} {last} {sport}", "who is {first} {last}", "{first} {last} birthplace"],
           ["{nationality} {sport}s", "famous {sport} from {city}"]),
         S("Born in {city} in {birth_year}, {first} {last} is one of the best-known {nationality} {sport}s.",
           ["{first} {last} age", "where was {first} {last} born"],
           ["{sport} born in {city}"])],
        [S("{last} won {medal} at {event} in {event_year}.",
           ["{first} {last} medals", "{last} {medal} medal {event_year}"],
           ["{medal} medal {event} {event_year}", "{event} {event_year} {medal} medallist"]),
         S("{last}'s personal best in the {pb_event}, {pb}, was set in {pb_city} in {pb_year}.",
           ["{first} {last} personal best", "{last} best time {pb_event}"],
           ["{pb_event} results {pb_city} {pb_year}"]),
         S("Coached by {cfirst} {clast} since {coach_year}, {last} trains at altitude for several months a year.",
           ["who coaches {first} {last}", "{first} {last} coach", "{last} altitude training"]),
         S("A knee injury kept {last} out of competition for most of {inj_year}.",
           ["{first} {last} injury", "{last} knee injury {inj_year}"]),
         S("Away from competition, {last} studies {study} at a university in {city}.",
           ["{first} {last} university studies", "athlete studying {study}"]),
         S("Sponsors include a sportswear brand and a local café chain."),
         S("Commentators, e.g. former champions, describe the style as patient and tactical."),
         ],
        slots,
    )


def programming(rng: random.Random) -> Topic:
    names = UniquePicker(rng, [
        "pyndle", "ferrox", "quillmap", "tessera", "lumenql", "grackle", "borealis-db", "sprocket", "nimbly",
        "kestrel-http", "vellum", "orcapack", "zephyr-lint", "marmot", "cobaltjson", "tinyrope", "halyard",
        "fathom-ts", "petrichor", "wrenfs",
    ])

    def slots(r: random.Random, i: int) -> dict[str, object]:
        return {
            "lib": names(i), **person(r), **city(r),
            "language": r.choice(["Rust", "Python", "Go", "C++", "Haskell", "Julia", "OCaml"]),
            "purpose": r.choice(["parsing JSON", "resizing images", "routing HTTP requests", "drawing graph layouts",
                                 "compressing time series", "fuzzy string matching", "scheduling background jobs",
                                 "reading Parquet files"]),
            "year": r.randint(2009, 2022), "license": r.choice(["MIT", "Apache 2.0", "GPLv3", "BSD"]),
            "speed": r.choice([2, 3, 4, 6, 10, 15]), "version": f"{r.randint(1, 4)}.{r.randint(0, 9)}",
            "feature": r.choice(["async I/O", "Unicode normalisation", "WebAssembly targets", "memory-mapped files", "SIMD instructions"]),
            "stars": r.choice([800, 2300, 5100, 12000, 27000]),
        }

    return Topic(
        "programming", "{lib}",
        [S("{lib} is an open-source {language} library for {purpose}.",
           ["what is {lib}", "{lib} library", "{lib} {language}"],
           ["{language} library for {purpose}", "best {language} package for {purpose}"]),
         S("Written in {language}, {lib} is a small library focused on {purpose}.",
           ["{lib} documentation", "{lib} use case"],
           ["tools for {purpose}"])],
        [S("It was first released by {title} {first} {last} in {year} under the {license} license.",
           ["who created {lib}", "{lib} license", "{lib} author"],
           ["{language} libraries with {license} license"]),
         S("Benchmarks show it running about {speed} times faster than comparable tools, e.g. on inputs of several gigabytes.",
           ["{lib} benchmark", "is {lib} fast", "{lib} performance comparison"]),
         S("Version {version} added support for {feature}.",
           ["{lib} {feature} support", "{lib} changelog {version}"],
           ["libraries supporting {feature}"]),
         S("The project has more than {stars} stars on GitHub and an active issue tracker.",
           ["{lib} github", "how popular is {lib}"]),
         S("It depends only on the standard library, which keeps installation simple.",
           ["{lib} dependencies", "{lib} install"]),
         S("Critics note that the documentation lags behind the code, i.e. many options are undocumented.",
           ["{lib} documentation problems", "criticism of {lib}"]),
         S("Several start-ups in {city} use it in production for data pipelines.",
           ["companies using {lib}", "{lib} in production"]),
         ],
        slots,
    )


def music(rng: random.Random) -> Topic:
    albums = UniquePicker(rng, [
        "Glass Harbour", "Northern Static", "The Salt Road", "Paper Lanterns", "Copper Moon", "Slow Weather",
        "Hollow Pines", "Midnight Ferry", "Iron Orchard", "Blue Cartography", "Letters to Malmö", "Tidal Rooms",
        "Café Zürich Nights", "Small Hours", "Feather & Flint", "Lowland Hymns", "Radio Cathedral",
        "Winter Semaphore", "Kites Over Porto", "Amber Signal",
    ])
    bands = UniquePicker(rng, [
        "The Marsh Larks", "Velvet Quarry", "Orla & the Tides", "Kettle Drum Society", "Sundial", "The Long Evenings",
        "Neon Heron", "Brass Lanterns", "The Quiet Engines", "Hollow Bell", "Static Orchard", "Pale Comets",
        "The Driftwood Choir", "Moth Parade", "Saltwater Kings", "The Attic Radio", "Granite Sky", "Fjordlight",
        "The Paper Bridges", "Lumen Drive",
    ])

    def slots(r: random.Random, i: int) -> dict[str, object]:
        return {
            "album": albums(i), "band": bands(i), **city(r), **person(r, "p"), **city(r, "cover"),
            "ordinal": r.choice(["debut", "second", "third", "fourth", "fifth"]),
            "genre": r.choice(["indie folk", "post-punk", "jazz fusion", "synth-pop", "bluegrass", "shoegaze", "Afrobeat"]),
            "year": r.randint(1979, 2022), "weeks": r.choice([3, 5, 6, 8, 10]),
            "single": r.choice(["Lighthouse", "Empty Stations", "Paper Crown", "River Glass", "Orbiting", "Say It Slow", "Harbour Lights"]),
            "pos": r.randint(1, 40), "tracks": r.randint(8, 14), "minutes": r.choice([38, 42, 45, 51, 58]),
            "instrument": r.choice(["a pump organ", "the hurdy-gurdy", "a string quartet", "steel pans", "a theremin", "the kora"]),
            "tour": r.choice([4, 7, 9, 14, 18]), "reissue": r.randint(2012, 2023),
        }

    return Topic(
        "music", "{album}",
        [S("{album} is the {ordinal} studio album by the {genre} band {band}, released in {year}.",
           ["{album} album", "{band} {album} release year", "when did {band} release {album}"],
           ["{genre} albums {year}", "best {genre} records"]),
         S("Released in {year}, {album} was the {ordinal} record by {band}, a {genre} group.",
           ["{album} by {band}", "{band} discography"],
           ["{genre} bands"])],
        [S("It was recorded over {weeks} weeks at a studio in {city} with producer {pfirst} {plast}.",
           ["who produced {album}", "where was {album} recorded", "{album} producer"],
           ["albums recorded in {city}", "recording studios {city} albums"]),
         S("The single \"{single}\" reached number {pos} on the national charts.",
           ["{band} {single}", "{album} hit single", "{single} chart position"]),
         S("The record contains {tracks} tracks and runs just under {minutes} minutes.",
           ["{album} track list length", "how many songs on {album}"]),
         S("Critics praised the use of {instrument}, which was unusual for the genre at the time.",
           ["{album} instruments", "{genre} album with {instrument}"],
           ["albums featuring {instrument}", "songs with {instrument}"]),
         S("The band toured the U.S. and Europe for {tour} months to promote it.",
           ["{band} tour {album}", "{band} european tour"]),
         S("The cover photograph was taken at a café in {covercity}.",
           ["{album} cover photo", "where was the {album} cover taken"]),
         S("Reissued on vinyl in {reissue}, it sold out within a week.",
           ["{album} vinyl reissue", "{album} vinyl {reissue}"]),
         ],
        slots,
    )


def ecology(rng: random.Random) -> Topic:
    names = UniquePicker(rng, [
        "Brakmoor", "Elsholm", "Vassby", "Riedwang", "Lough Carrow", "Marais de Saint-Fiacre", "Kolkwitz Fen",
        "Tarn Hollow", "Saltenfjord", "Okavu", "Ciénaga Verde", "Haversham Levels", "Białe Błota", "Ostermoor",
        "Laguna Escondida", "Sedge Hollow", "Myrvatn", "Nieuwe Polder", "Kilbride Bog", "Altwasser Rhön",
    ])

    def slots(r: random.Random, i: int) -> dict[str, object]:
        return {
            "reserve": names(i), **city(r), **person(r), "area": r.choice([140, 380, 920, 1650, 2400, 5100]),
            "nspecies": r.choice([90, 120, 160, 210, 260]),
            "bird": r.choice(["bittern", "spotted crake", "bearded reedling", "black tern", "marsh harrier", "common crane", "aquatic warbler"]),
            "threat": r.choice(["drainage for farming", "invasive signal crayfish", "nitrogen runoff", "peat extraction", "falling groundwater"]),
            "rest_year": r.randint(1996, 2019),
            "amphib": r.choice(["Moor frog", "Great crested newt", "Natterjack toad", "Fire-bellied toad"]),
            "trail": r.choice([1.5, 2, 3.2, 4, 6.5]),
        }

    return Topic(
        "ecology", "{reserve} wetland reserve",
        [S("The {reserve} wetland reserve covers {area} hectares of marsh and reed beds near {city}.",
           ["{reserve} reserve", "how big is the {reserve} wetland", "{reserve} wetland area hectares"],
           ["wetlands near {city}", "nature reserves around {city}"]),
         S("Near {city}, the {reserve} reserve protects {area} hectares of fen, open water and wet meadow.",
           ["{reserve} nature reserve location", "{reserve} fen"],
           ["protected wetlands {city}"])],
        [S("More than {nspecies} bird species have been recorded there, including the rare {bird}.",
           ["birds of {reserve}", "{reserve} bird species"],
           ["where to see the {bird}", "{bird} breeding sites", "wetlands with {bird}"]),
         S("Its main threat is {threat}, which has reduced open water by a third since the 1970s.",
           ["threats to {reserve}", "why is {reserve} shrinking"],
           ["wetlands threatened by {threat}", "impact of {threat} on wetlands"]),
         S("A restoration project begun in {rest_year} re-flooded former farmland, e.g. along the old canal.",
           ["{reserve} restoration project", "re-flooding farmland {reserve}"]),
         S("Ecologist {title} {first} {last} counts breeding pairs of {bird} every spring.",
           ["who monitors birds at {reserve}", "{bird} breeding pair counts {reserve}"]),
         S("{amphib} populations in the reserve recovered after the restoration.",
           ["{amphib} {reserve}", "amphibians in {reserve}"],
           ["{amphib} recovery wetland restoration"]),
         S("Visitors can walk a {trail} km boardwalk that avoids the nesting areas.",
           ["{reserve} boardwalk", "walking trail {reserve}", "visiting {reserve}"]),
         S("Water quality is monitored monthly for nitrate and phosphate."),
         ],
        slots,
    )


def finance(rng: random.Random) -> Topic:
    names = UniquePicker(rng, [
        "Harrowgate Logistics", "Nordvik Energy", "Solenne Foods", "Bramwell Semiconductors", "Castara Health",
        "Ironleaf Timber", "Quayside Payments", "Altamira Cement", "Vektor Robotics", "Lumora Textiles",
        "Pinebridge Insurance", "Orrin Pharmaceuticals", "Kestrel Airlines", "Meridian Agritech", "Halden Shipping",
        "Sable Mining", "Tidewater Utilities", "Corvid Software", "Eastwind Batteries", "Gallant Breweries",
    ])

    def slots(r: random.Random, i: int) -> dict[str, object]:
        return {
            "company": names(i), **city(r), **person(r),
            "sector": r.choice(["logistics", "renewable energy", "food processing", "semiconductor", "insurance",
                                "mining", "software", "pharmaceutical"]),
            "fy": r.randint(2018, 2024), "rev": r.choice([85, 240, 610, 1320, 2750, 4900]), "growth": r.randint(2, 34),
            "ceo_year": r.randint(2009, 2022), "exchange": r.choice(["London Stock Exchange", "Nasdaq", "SIX Swiss Exchange", "Euronext", "Tokyo Stock Exchange"]),
            "ipo_year": r.randint(1988, 2021), "target": r.choice(LAST) + r.choice([" Components", " Analytics", " Freight", " Labs"]),
            "acq": r.choice([45, 120, 310, 780]), "div": r.choice([8, 12, 21, 35, 48]), "employees": r.choice([900, 2400, 6800, 15000, 41000]),
        }

    return Topic(
        "finance", "{company}",
        [S("{company} is a {sector} company headquartered in {city}.",
           ["{company} headquarters", "what does {company} do"],
           ["{sector} companies in {city}", "{sector} firms based in {city}"]),
         S("Based in {city}, {company} operates in the {sector} sector.",
           ["{company} sector", "{company} profile"],
           ["{city} {sector} company"])],
        [S("In fiscal {fy}, it reported revenue of ${rev} million, up {growth}% from the previous year.",
           ["{company} revenue {fy}", "{company} annual results", "{company} sales growth"]),
         S("Chief executive {title} {first} {last} has led the firm since {ceo_year}.",
           ["{company} ceo", "who runs {company}"]),
         S("The company listed its shares on the {exchange} in {ipo_year}.",
           ["{company} ipo", "where is {company} listed", "{company} stock exchange"],
           ["companies listed on {exchange} in {ipo_year}"]),
         S("It agreed to acquire {target} for approx. ${acq} million in cash.",
           ["{company} acquisition", "who is buying {target}", "{target} takeover"]),
         S("Analysts, e.g. those at U.S. brokerages, expect margins to narrow as input costs rise."),
         S("The board raised the quarterly dividend to {div} cents per share.",
           ["{company} dividend", "{company} dividend per share"]),
         S("About {employees} people work for the company worldwide.",
           ["{company} number of employees", "how many people work at {company}"]),
         ],
        slots,
    )


def architecture(rng: random.Random) -> Topic:
    names = UniquePicker(rng, LAST)

    def slots(r: random.Random, i: int) -> dict[str, object]:
        btype = r.choice(["public library", "concert hall", "railway station", "museum", "footbridge", "office tower"])
        return {
            "bname": f"{names(i)} {btype.split()[-1].title()}", "btype": btype, **city(r), **person(r),
            "year": r.randint(1901, 2019), "style": r.choice(["brutalist", "Art Deco", "high-tech", "organic", "neo-Gothic", "minimalist"]),
            "material": r.choice(["cross-laminated timber", "weathering steel", "rammed earth", "precast concrete", "glass-reinforced plastic"]),
            "height": r.choice([24, 41, 63, 88, 120, 152]),
            "feature": r.choice(["spiral skylight", "glass atrium", "sawtooth roof", "cantilevered reading room", "copper dome"]),
            "renov": r.randint(2003, 2023),
        }

    return Topic(
        "architecture", "{bname}",
        [S("The {bname} is a {btype} in {city}, completed in {year}.",
           ["{bname} {city}", "when was the {bname} built"],
           ["{btype} in {city}", "notable {btype} buildings {city}"]),
         S("Completed in {year}, the {bname} is a landmark {btype} in {city}.",
           ["{bname} completion date", "{bname} history"],
           ["architecture of {city}"])],
        [S("It was designed by the architect {first} {last}, known for {style} buildings.",
           ["who designed the {bname}", "{bname} architect"],
           ["{style} buildings", "{style} architecture examples"]),
         S("The structure uses {material} for its main frame, an unusual choice for its time.",
           ["{bname} construction material"],
           ["buildings made of {material}", "{material} structural frame buildings"]),
         S("At {height} metres, it was briefly the tallest building in the region.",
           ["how tall is the {bname}", "{bname} height"]),
         S("Its best-known feature is a {feature} that floods the interior with daylight.",
           ["{bname} {feature}", "{bname} interior daylight"],
           ["buildings with a {feature}"]),
         S("Renovation in {renov} added a café and a rooftop garden.",
           ["{bname} renovation", "{bname} rooftop garden café"]),
         S("Critics were divided when it opened, i.e. some called it brutal and others visionary.",
           ["{bname} reception critics"]),
         S("The building is open to visitors on weekdays from 9 a.m. to 5 p.m.",
           ["{bname} opening hours", "visiting the {bname}"]),
         ],
        slots,
    )


def linguistics(rng: random.Random) -> Topic:
    names = UniquePicker(rng, [
        "Tavari", "Orkhoni", "Selunga", "Kwazem", "Bilaan Highland", "Ewurí", "Nandrau", "Hessiri", "Molakese",
        "Tunjebo", "Ulqaani", "Karrewa", "Siyantse", "Poqomaru", "Dravelic", "Ngarrindu", "Lekhasi", "Omburu",
        "Vaskeri", "Yelmaq",
    ])
    orders = {"SOV": "last", "SVO": "in the middle", "VSO": "first", "VOS": "first"}

    def slots(r: random.Random, i: int) -> dict[str, object]:
        order = r.choice(sorted(orders))
        return {
            "lang": names(i), "order": order, "verbpos": orders[order], **person(r),
            "family": r.choice(["Austronesian", "Bantu", "Turkic", "Uralic", "Quechuan", "Pama-Nyungan", "Mayan"]),
            "speakers": r.choice([1200, 4500, 18000, 60000, 240000]),
            "region": r.choice(["the northern highlands", "a chain of coastal islands", "the upper river valleys",
                                "the southern steppe", "the eastern rainforest"]),
            "vowels": r.choice([3, 5, 6, 7, 9]), "cases": r.choice([2, 4, 6, 8, 12]), "gyear": r.randint(1931, 2018),
            "script": r.choice(["Latin", "Cyrillic", "Arabic", "Ge'ez"]),
            "status": r.choice(["vulnerable", "definitely endangered", "severely endangered", "critically endangered"]),
            "donor": r.choice(["Portuguese", "Arabic", "Russian", "Spanish", "English", "Malay"]),
        }

    return Topic(
        "linguistics", "{lang} language",
        [S("{lang} is a {family} language spoken by roughly {speakers} people in {region}.",
           ["{lang} language", "how many people speak {lang}", "{lang} speakers"],
           ["{family} languages", "languages of {region}"]),
         S("About {speakers} people in {region} speak {lang}, which belongs to the {family} family.",
           ["{lang} language family", "where is {lang} spoken"],
           ["{family} family languages"])],
        [S("Its basic word order is {order}, e.g. the verb usually comes {verbpos}.",
           ["{lang} word order", "{lang} syntax verb position"],
           ["{order} languages", "languages with {order} word order"]),
         S("The language distinguishes {vowels} vowel qualities and uses vowel length contrastively.",
           ["{lang} vowels", "{lang} phonology vowel length"]),
         S("Nouns inflect for {cases} grammatical cases.",
           ["{lang} grammatical cases", "how many cases does {lang} have"],
           ["languages with {cases} noun cases"]),
         S("{title} {first} {last} published the first full grammar of {lang} in {gyear}.",
           ["{lang} grammar book", "who documented {lang}", "first grammar of {lang}"]),
         S("It is written in the {script} script, although many speakers rarely write it.",
           ["{lang} writing system", "{lang} alphabet"],
           ["minority languages written in {script} script"]),
         S("UNESCO lists it as {status}.",
           ["is {lang} endangered", "{lang} endangerment status"],
           ["{status} languages"]),
         S("Loanwords from {donor} are common in vocabulary related to trade.",
           ["{lang} loanwords", "{donor} loanwords in {lang}"],
           ["{donor} borrowings in minority languages"]),
         ],
        slots,
    )


def aviation(rng: random.Random) -> Topic:
    makers = ["Halvard", "Aerocon", "Skarp", "Meridian Aero", "Tannery Aircraft", "Volantis"]
    used: set[str] = set()

    def slots(r: random.Random, i: int) -> dict[str, object]:
        while True:
            model = f"{r.choice(makers)} {r.choice(['HX', 'AT', 'S', 'MV', 'TR', 'V'])}-{r.choice([12, 20, 45, 70, 90, 110, 200, 310, 440])}"
            if model not in used:
                used.add(model)
                break
        return {
            "aircraft": model, **person(r), **city(r),
            "role": r.choice(["regional airliner", "cargo aircraft", "trainer", "firefighting amphibian", "business jet", "crop duster"]),
            "first_flight": r.randint(1948, 2020), "engines": r.choice(["two turboprop", "two turbofan", "four turboprop", "a single piston", "three turbofan"]),
            "range": r.choice([900, 1800, 2600, 4200, 7400]), "seats": r.choice([4, 19, 48, 72, 110, 180]),
            "built": r.choice([35, 120, 410, 950, 2300]), "incident_year": r.randint(1960, 2022),
        }

    return Topic(
        "aviation", "{aircraft}",
        [S("The {aircraft} is a {role} powered by {engines} engines, built in {city}.",
           ["{aircraft} specifications", "{aircraft} engines", "what is the {aircraft}"],
           ["{role} aircraft", "aircraft manufactured in {city}"]),
         S("Built in {city}, the {aircraft} is a {role} with {engines} engines.",
           ["{aircraft} manufacturer", "{aircraft} aircraft type"],
           ["{role} models"])],
        [S("Its maiden flight took place in {first_flight}, with test pilot {first} {last} at the controls.",
           ["{aircraft} first flight", "who flew the {aircraft} first", "{aircraft} test pilot"]),
         S("The aircraft has a range of about {range} km and seats up to {seats} passengers.",
           ["{aircraft} range km", "how many passengers does the {aircraft} carry", "{aircraft} seating capacity"]),
         S("More than {built} examples have been delivered to operators worldwide, e.g. flight schools and charter firms.",
           ["how many {aircraft} were built", "{aircraft} production numbers"]),
         S("A landing gear failure in {incident_year} led to a redesign of the main undercarriage.",
           ["{aircraft} accident {incident_year}", "{aircraft} landing gear problem"],
           ["aircraft landing gear failure {incident_year}"]),
         S("Pilots praise its short take-off performance on unpaved strips."),
         S("Civil aviation authorities in the U.S. certified the type after a lengthy test programme.",
           ["{aircraft} FAA certification", "is the {aircraft} certified in the US"]),
         S("A stretched variant was proposed but never entered production."),
         ],
        slots,
    )


def agriculture(rng: random.Random) -> Topic:
    names = UniquePicker(rng, [
        "Aurelia", "Nordgold", "Kestrel", "Riverbend", "Sommerau", "Valkyrie", "Tamsin", "Bellevue", "Corrigan",
        "Pampa Alta", "Hokuriku Red", "Frostbite", "Marigold", "Sunderland", "Cascadia", "Orion", "Lindau",
        "Bramble", "Solstice", "Quillan",
    ])

    def slots(r: random.Random, i: int) -> dict[str, object]:
        crop = r.choice(["wheat", "barley", "rice", "potato", "apple", "oat", "maize"])
        return {
            "variety": names(i), "crop": crop, **person(r), **city(r),
            "year": r.randint(1962, 2021), "yield": r.choice(["4.2", "6.8", "7.5", "9.1", "11.3", "38", "52"]),
            "disease": r.choice(["stem rust", "late blight", "powdery mildew", "scab", "rice blast", "fusarium head blight"]),
            "days": r.choice([95, 110, 124, 138, 150]), "parent": r.choice(["a wild relative from Anatolia", "an old landrace from Kraków", "a Mexican breeding line", "a Japanese heritage variety"]),
            "share": r.randint(3, 41),
        }

    return Topic(
        "agriculture", "{variety} ({crop})",
        [S("{variety} is a {crop} variety bred by {title} {first} {last} and released in {year}.",
           ["{variety} {crop} variety", "who bred {variety} {crop}", "{variety} cultivar"],
           ["new {crop} varieties", "{crop} cultivars released in {year}"]),
         S("Released in {year}, the {crop} variety {variety} was developed by a breeding programme near {city}.",
           ["{variety} release year", "origin of {variety} {crop}"],
           ["{crop} breeding near {city}"])],
        [S("In field trials it yielded about {yield} tonnes per hectare.",
           ["{variety} yield per hectare", "{variety} {crop} yield"]),
         S("It carries resistance to {disease}, a disease that causes heavy losses in wet years.",
           ["{variety} disease resistance", "is {variety} resistant to {disease}"],
           ["{crop} varieties resistant to {disease}", "{disease} resistant {crop}"]),
         S("The crop matures in roughly {days} days, i.e. earlier than most older varieties.",
           ["{variety} days to maturity", "early maturing {crop} {variety}"]),
         S("One of its parents is {parent}, which contributed drought tolerance.",
           ["{variety} pedigree", "{variety} parent variety"],
           ["{crop} bred from {parent}"]),
         S("By the end of the decade it covered {share}% of the {crop} area in the region.",
           ["{variety} market share", "how widely is {variety} grown"]),
         S("Millers and bakers, e.g. in the U.S. Midwest, value its consistent quality."),
         S("Organic growers report that it competes well with weeds."),
         ],
        slots,
    )


def mathematics(rng: random.Random) -> Topic:
    names = UniquePicker(rng, LAST)

    def slots(r: random.Random, i: int) -> dict[str, object]:
        posed = r.randint(1871, 1990)
        return {
            "mathematician": names(i), **person(r, "p"), **city(r),
            "kind": r.choice(["conjecture", "theorem", "lemma", "inequality"]),
            "field": r.choice(["number theory", "graph theory", "topology", "combinatorics", "probability theory", "algebraic geometry"]),
            "posed": posed, "proved": posed + r.randint(4, 90),
            "object": r.choice(["prime gaps", "planar graphs", "knot invariants", "random walks", "lattice polygons", "elliptic curves"]),
            "pages": r.choice([14, 38, 90, 160, 240]), "prize": r.choice(["the Fields Medal", "the Abel Prize", "the Wolf Prize", "the Shaw Prize"]),
            "computer_hours": r.choice([400, 2000, 12000, 60000]),
        }

    return Topic(
        "mathematics", "{mathematician}'s {kind}",
        [S("{mathematician}'s {kind} is a result in {field} about {object}, first stated in {posed}.",
           ["{mathematician} {kind}", "what is {mathematician}'s {kind}", "{mathematician} {kind} statement"],
           ["results in {field} about {object}", "famous {field} problems about {object}"]),
         S("First stated in {posed}, {mathematician}'s {kind} concerns {object} and belongs to {field}.",
           ["{mathematician} {kind} history", "{mathematician} {object}"],
           ["open problems about {object}"])],
        [S("A complete proof was given in {proved} by {ptitle} {pfirst} {plast}, working in {city}.",
           ["who proved {mathematician}'s {kind}", "{mathematician} {kind} proof {proved}", "proof of {mathematician} {kind}"]),
         S("The published proof runs to {pages} pages and relies on a computer search of about {computer_hours} CPU hours.",
           ["{mathematician} {kind} computer assisted proof", "how long is the proof of {mathematician}'s {kind}"],
           ["computer assisted proofs in {field}"]),
         S("{plast} later received {prize}, partly for this work.",
           ["{plast} {prize}", "{prize} winner {field}"]),
         S("Special cases, e.g. for small parameters, had been checked by hand decades earlier.",
           ["special cases of {mathematician}'s {kind}"]),
         S("The statement is often taught in undergraduate courses because it needs little background."),
         S("Kurt Gödel is said to have doubted the statement in a letter written in Zürich.",
           ["Gödel letter {mathematician}", "Gödel doubted {mathematician} {kind}"]),
         S("Generalisations to higher dimensions remain open.",
           ["{mathematician} {kind} higher dimensions", "open generalisations {mathematician}"]),
         ],
        slots,
    )


TOPICS = [astronomy, cooking, medicine, geology, history, sports, programming, music, ecology, finance,
          architecture, linguistics, aviation, agriculture, mathematics]

# --------------------------------------------------------------------------------- composing

_FORMATTER = string.Formatter()


def placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name]


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def pretoken_count(text: str) -> int:
    return len(re.findall(r"\w+|[^\w\s]", text))


@dataclass
class Doc:
    id: str
    topic: str
    title: str
    text: str
    facts: dict[str, str]  # slot -> value, only for slots the text states
    sentences: list[Sentence]


def compose_documents(rng: random.Random) -> list[Doc]:
    drafts: list[tuple[str, str, str, dict[str, str], list[Sentence]]] = []
    for make_topic in TOPICS:
        topic = make_topic(rng)
        for alias in REFERENCES[topic.name][1]:
            for intro in topic.intros:
                if not set(placeholders(alias)) <= set(placeholders(intro.template)):
                    raise AssertionError(f"alias {alias!r} names a fact intro {intro.template!r} does not state")
        for i in range(DOCS_PER_TOPIC):
            slots = {k: str(v) for k, v in topic.make_slots(rng, i).items()}
            intro = rng.choice(topic.intros)
            n_body = rng.randint(2, 7)
            picked = sorted(rng.sample(range(len(topic.body)), n_body))
            chosen = [intro] + [topic.body[j] for j in picked]
            # Keep each document within one passage: drop trailing sentences past the budget.
            while len(chosen) > 3 and pretoken_count(" ".join(s.template.format(**slots) for s in chosen)) > MAX_PRETOKENS:
                chosen.pop()
            text = " ".join(capitalise(s.template.format(**slots)) for s in chosen)
            stated = {name for s in chosen for name in placeholders(s.template)}
            # A document naming a city also tells where it is: queries may name the country instead.
            stated |= {name[: -len("city")] + "country" for name in stated if name.endswith("city")}
            facts = {k: slots[k] for k in stated}
            drafts.append((topic.name, capitalise(topic.title.format(**slots)), text, facts, chosen))
    rng.shuffle(drafts)
    return [Doc(f"d{i + 1:04d}", *draft) for i, draft in enumerate(drafts)]


# How queries refer to a document's entity. A query phrasing that mentions the entity by one of the
# ``mentions`` patterns (longest first) gets, about half the time, a descriptive reference from
# ``aliases`` instead ("the new kinase inhibitor for psoriasis" for "dermacitinib"): people often
# search for a thing they cannot name, and BM25 then has to match facts rather than a rare name.
# Alias slots come from the introductions, which every document states.
REFERENCES: dict[str, tuple[list[str], list[str]]] = {
    "astronomy": (["the comet {comet}", "comet {comet}", "{comet} comet", "{comet}"],
                  ["the comet from {obs}", "the {obs} comet"]),
    "cooking": (["{dish}"], ["the dish from {city}", "that {city} family dish"]),
    "medicine": (["{drug}"], ["the new {condition} drug", "the {drugclass} for {condition}"]),
    "geology": (["{volcano}"], ["the {vtype} in {region}", "the volcano in {region}"]),
    "history": (["the treaty of {place}", "treaty of {place}", "{place} treaty"],
                ["the {party1} treaty", "the treaty between {party1} and {party2}"]),
    "sports": (["{first} {last}", "{last}"], ["the {nationality} {sport}", "the {sport} from {city}"]),
    "programming": (["{lib}"], ["the {language} library for {purpose}", "the {purpose} library"]),
    "music": (["{band} {album}", "{album}", "{band}"], ["the {genre} album by {band}", "the {ordinal} {genre} album"]),
    "ecology": (["the {reserve} wetland", "{reserve}"], ["the wetland reserve near {city}", "the marsh near {city}"]),
    "finance": (["{company}"], ["the {sector} company in {city}", "the {city} {sector} firm"]),
    "architecture": (["the {bname}", "{bname}"], ["the {btype} in {city}", "the {city} {btype}"]),
    "linguistics": (["{lang}"], ["the {family} language of {region}", "the {family} language"]),
    "aviation": (["the {aircraft}", "{aircraft}"], ["the {role} built in {city}", "the {city} {role}"]),
    "agriculture": (["{variety} {crop}", "{variety}"], ["the {crop} variety from {year}", "the {year} {crop} cultivar"]),
    "mathematics": (["{mathematician}'s {kind}", "{mathematician} {kind}", "{mathematician}"],
                    ["the {kind} about {object}", "the {field} {kind} on {object}"]),
}
ALIAS_PROBABILITY = 0.75
# Words people use for what the documents say differently; each is swapped with this probability.
SYNONYM_PROBABILITY = 0.6
SYNONYMS: dict[str, list[str]] = {
    "discovered": ["found", "spotted"], "discoverer": ["finder"], "nucleus": ["core"], "size": ["diameter"],
    "orbital period": ["orbit length"], "recipe": ["how to make"], "recipes": ["meals"], "dishes": ["meals"],
    "ingredient": ["component"], "side effects": ["adverse reactions", "safety problems"],
    "dosage": ["how much to take"], "treatments": ["therapies"], "drug": ["medication"], "drugs": ["medications"],
    "trial": ["study"], "eruption": ["outburst"], "volcanoes": ["volcanic mountains"], "hot springs": ["thermal pools"],
    "library": ["package"], "libraries": ["packages"], "benchmark": ["speed test"], "album": ["record"],
    "albums": ["records"], "band": ["group"], "songs": ["tunes"], "company": ["firm", "business"],
    "companies": ["firms", "businesses"], "ceo": ["boss", "chief executive"], "acquisition": ["takeover", "purchase"],
    "employees": ["staff"], "revenue": ["turnover"], "wetland": ["marsh", "fen"], "wetlands": ["marshes"],
    "birds": ["birdlife"], "threats": ["dangers", "pressures"], "restoration": ["rewetting"], "architect": ["designer"],
    "designed": ["planned"], "built": ["constructed"], "renovation": ["refurbishment"], "opening hours": ["visiting times"],
    "grammar": ["description"], "endangered": ["at risk"], "writing system": ["orthography"], "aircraft": ["plane"],
    "first flight": ["maiden flight"], "yield": ["harvest"], "variety": ["cultivar", "strain"], "proof": ["demonstration"],
    "proved": ["solved"], "treaty": ["pact", "accord"], "treaties": ["pacts", "accords"], "negotiated": ["brokered"],
    "medals": ["podium finishes"], "coach": ["trainer"], "coaches": ["trains"], "injury": ["setback"],
    "personal best": ["fastest time"], "how tall is": ["height of"], "height": ["elevation"], "languages": ["tongues"],
}


COUNTRY_PROBABILITY = 0.5
ACCENT_FREE_PROBABILITY = 0.5


def paraphrase(phrasing: str, rng: random.Random) -> str:
    """Swap some template words (never inside ``{slots}``) for words the documents do not use, and
    sometimes a city for its country (which the documents do not mention)."""
    phrasing = re.sub(
        r"\{(\w*)city\}",
        lambda m: "{" + m.group(1) + ("country}" if rng.random() < COUNTRY_PROBABILITY else "city}"),
        phrasing,
    )
    parts = re.split(r"(\{[^}]*\})", phrasing)
    for i, part in enumerate(parts):
        if part.startswith("{"):
            continue
        for word in sorted(SYNONYMS, key=len, reverse=True):
            pattern = re.compile(rf"\b{re.escape(word)}\b")
            if pattern.search(part) and rng.random() < SYNONYM_PROBABILITY:
                part = pattern.sub(rng.choice(SYNONYMS[word]), part, count=1)
        parts[i] = part
    return "".join(parts)



def refer(phrasing: str, topic: str, rng: random.Random) -> str:
    mentions, aliases = REFERENCES[topic]
    if rng.random() >= ALIAS_PROBABILITY:
        return phrasing
    for pattern in sorted(mentions, key=len, reverse=True):
        if pattern in phrasing:
            alias = rng.choice(aliases)
            replaced = phrasing.replace(pattern, alias, 1)
            return replaced.replace("the the ", "the ").replace("of the the", "of the")
    return phrasing


def normalise_query(text: str, rng: random.Random) -> str:
    text = " ".join(text.replace("\t", " ").split())
    text = re.sub(r"\b(the|of|in) the the\b", r"\1 the", text).replace("the the ", "the ")
    text = text[4:] if text.lower().startswith("the ") else text
    if rng.random() < ACCENT_FREE_PROBABILITY:  # many people type "zurich" for "Zürich"
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    # Most people type lower case; some keep capitals as written.
    return text.lower() if rng.random() < 0.8 else text


def judge(named: list[str], implied: set[str], source: Doc, docs: list[Doc]) -> dict[str, int]:
    """Relevance from facts.

    ``named``: facts the query names (their values must match); ``implied``: facts the query asks
    about without naming them (the document must state them, any value). 2 = every named fact
    matches; 1 = the first named fact matches but not all of them.
    """
    wanted = {k: source.facts[k] for k in named}
    primary = named[0]
    judged: dict[str, int] = {}
    for doc in docs:
        if doc.topic != source.topic or not implied <= doc.facts.keys():
            continue
        if all(doc.facts.get(k) == v for k, v in wanted.items()):
            judged[doc.id] = 2
        elif len(named) > 1 and doc.facts.get(primary) == wanted[primary]:
            judged[doc.id] = 1
    return judged


def compose_queries(docs: list[Doc], rng: random.Random) -> list[tuple[str, dict[str, int]]]:
    """Training queries first (N_TRAIN_QUERIES, from the first TRAIN_SOURCE_DOCS documents), then
    test queries (N_TEST_QUERIES: one per document from the rest until TEST_PASS_QUERIES, then one
    more per pass over the same documents)."""
    order = list(docs)
    rng.shuffle(order)
    if TRAIN_SOURCE_DOCS + TEST_PASS_QUERIES > len(order):
        raise AssertionError(f"{len(order)} documents cannot source {TRAIN_SOURCE_DOCS} + {TEST_PASS_QUERIES} queries' documents")
    seen: set[str] = set()

    def queries_for(doc: Doc, wanted: int) -> list[tuple[str, dict[str, int]]]:
        options = [(s, phrasings) for s in doc.sentences for phrasings in s.queries]
        rng.shuffle(options)
        written: list[tuple[str, dict[str, int]]] = []
        for sentence, phrasings in options:
            template = paraphrase(refer(rng.choice(phrasings), doc.topic, rng), rng)
            named = list(dict.fromkeys(placeholders(template)))
            if not named or any(k not in doc.facts for k in named):
                raise AssertionError(f"query {template!r} names a fact its document does not state")
            implied = set(placeholders(sentence.template)) - set(named)
            text = normalise_query(template.format(**doc.facts), rng)
            if text.lower() in seen:
                continue
            seen.add(text.lower())
            written.append((text, judge(named, implied, doc, docs)))
            if len(written) == wanted:
                break
        return written

    train: list[tuple[str, dict[str, int]]] = []
    for doc in order[:TRAIN_SOURCE_DOCS]:
        train += queries_for(doc, min(TRAIN_QUERIES_PER_DOC, N_TRAIN_QUERIES - len(train)))
    test: list[tuple[str, dict[str, int]]] = []
    sources: list[Doc] = []
    for doc in order[TRAIN_SOURCE_DOCS:]:
        if len(test) == TEST_PASS_QUERIES:
            break
        written = queries_for(doc, 1)
        test += written
        sources += [doc] if written else []
    while len(test) < N_TEST_QUERIES:  # further passes over the same source documents
        before = len(test)
        for doc in sources:
            if len(test) == N_TEST_QUERIES:
                break
            test += queries_for(doc, 1)
        if len(test) == before:
            break
    if len(train) < N_TRAIN_QUERIES or len(test) < N_TEST_QUERIES:
        raise AssertionError(f"only {len(train)} training and {len(test)} test queries could be composed")
    return train + test


def write(out: Path, docs: list[Doc], queries: list[tuple[str, dict[str, int]]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "documents.jsonl", "w", encoding="utf-8", newline="\n") as handle:
        for doc in docs:
            handle.write(json.dumps({"id": doc.id, "title": doc.title, "text": doc.text}, ensure_ascii=False) + "\n")
    splits = {"train": queries[:N_TRAIN_QUERIES], "test": queries[N_TRAIN_QUERIES:]}
    qid = 0
    for split, rows in splits.items():
        with open(out / f"topics-{split}.tsv", "w", encoding="utf-8", newline="\n") as topics, \
                open(out / f"qrels-{split}.trec", "w", encoding="utf-8", newline="\n") as qrels:
            for text, judged in rows:
                qid += 1
                topics.write(f"q{qid:03d}\t{text}\n")
                for doc_id in sorted(judged):
                    qrels.write(f"q{qid:03d} 0 {doc_id} {judged[doc_id]}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "qcpt" / "data" / "demo")
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    docs = compose_documents(rng)
    queries = compose_queries(docs, rng)
    write(args.out, docs, queries)
    n_qrels = sum(len(j) for _, j in queries)
    print(f"wrote {len(docs)} documents, {len(queries)} queries ({n_qrels} judgments) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
