"""A seeded generator of the built-in held-out text-to-SQL set.

The rows use the field names of gretelai/synthetic_text_to_sql so a user can swap in that dataset (or
an export of their own) without a field map. The set is synthetic so it can be committed, regenerated
byte for byte (a drift test checks it) and cannot have been seen by a model during training.

Each row gets its own small database: an entity table (patients, accounts, farms...) and a child
table pointing at it (visits, transactions, harvests...), filled with fresh random rows. Questions come
from PATTERNS, each written once and worded per domain from the domain's table, column and noun names.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

COMPLEXITY_DESCRIPTIONS = {
    "basic SQL": "basic SQL with a simple select statement",
    "aggregation": "aggregation functions (COUNT, SUM, AVG, MIN, MAX, etc.), and HAVING clause",
    "single join": "only one join (specify inner, outer, cross)",
    "subqueries": "subqueries, including correlated and nested subqueries",
    "window functions": "window functions (e.g., ROW_NUMBER, LAG, RANK, etc.) with partitioning and ordering",
}
TASK_DESCRIPTIONS = {
    "analytics and reporting": "generating reports, dashboards, and analytical insights",
    "data retrieval": "basic data fetching queries",
}
# Share of rows per complexity; harder kinds are rarer, as in the public set.
WEIGHTS = {"basic SQL": 25, "aggregation": 25, "single join": 20, "subqueries": 15, "window functions": 15}


@dataclass(frozen=True)
class Domain:
    name: str
    description: str
    words: dict[str, str]  # table, column and noun names for the patterns, plus value pools and ranges

    def pool(self, key: str) -> list[str]:
        return self.words[key].split(",")

    def bounds(self, key: str) -> tuple[float, float]:
        lo, hi = self.words[key].split("..")
        return float(lo), float(hi)


def _domain(name: str, description: str, spec: str) -> Domain:
    return Domain(name, description, dict(part.split("=", 1) for part in spec.split("|")))


DOMAINS = (
    _domain(
        "healthcare",
        "Patient demographics, hospital visits by department and treatment costs.",
        "table=patients|thing=patient|things=patients|id_col=patient_id|name_col=name|names=Alice Moreno,"
        "Liam O'Brien,Priya Natarajan,Chen Wei,Fatima Diallo,Jonas Berg,Maria Rossi,Kwame Mensah,Sofia Alvarez,"
        "Yuki Tanaka|cat_col=city|cat_noun=city|cat_plural=cities|cats=Boston,Denver,Seattle,Austin,Miami"
        "|int_col=age|int_noun=age|ints=18..90|real_col=weight_kg|real_noun=weight in kilograms|reals=45..120"
        "|child=visits|child_things=visits|child_id=visit_id|fk=patient_id|kind_col=department"
        "|kind_noun=department|kind_plural=departments|kinds=Cardiology,Oncology,Pediatrics,Radiology,Emergency"
        "|kinds_of={kind} visits|amount_col=cost|amount_noun=cost|amounts=50..5000|date_col=visit_date",
    ),
    _domain(
        "retail",
        "Customers, their loyalty programme status and orders by product category.",
        "table=customers|thing=customer|things=customers|id_col=customer_id|name_col=full_name|names=Emma Schmidt,"
        "Noah Johnson,Olivia Brown,Lucas Martin,Mia Dubois,Ethan Clark,Ava Lopez,Mason Lee,Isla Murphy,Leo Novak"
        "|cat_col=country|cat_noun=country|cat_plural=countries|cats=USA,Canada,Germany,France,Japan"
        "|int_col=loyalty_points|int_noun=number of loyalty points|ints=0..5000|real_col=credit_limit"
        "|real_noun=credit limit|reals=500..20000|child=orders|child_things=orders|child_id=order_id"
        "|fk=customer_id|kind_col=category|kind_noun=product category|kind_plural=product categories"
        "|kinds=Electronics,Clothing,Groceries,Toys,Furniture|kinds_of={kind} orders|amount_col=total"
        "|amount_noun=order total|amounts=5..2500|date_col=order_date",
    ),
    _domain(
        "finance",
        "Bank accounts, credit scores and the transactions posted to them.",
        "table=accounts|thing=account|things=accounts|id_col=account_id|name_col=holder_name|names=Grace Hopper,"
        "Alan Turing,Ada Lovelace,Linus Pauling,Marie Curie,Nikola Tesla,Rosalind Franklin,Carl Gauss,Emmy Noether,"
        "Srinivasa Ramanujan|cat_col=branch|cat_noun=branch|cat_plural=branches"
        "|cats=Downtown,Uptown,Harbor,Airport,Midtown|int_col=credit_score|int_noun=credit score|ints=300..850"
        "|real_col=balance|real_noun=balance|reals=0..250000|child=transactions|child_things=transactions"
        "|child_id=transaction_id|fk=account_id|kind_col=transaction_type|kind_noun=transaction type"
        "|kind_plural=transaction types|kinds=Deposit,Withdrawal,Transfer,Fee,Interest"
        "|kinds_of={kind} transactions|amount_col=amount|amount_noun=amount|amounts=1..10000"
        "|date_col=transaction_date",
    ),
    _domain(
        "education",
        "Students, their majors and grade point averages, and course exam scores.",
        "table=students|thing=student|things=students|id_col=student_id|name_col=name|names=Aisha Khan,Ben Carter,"
        "Clara Jensen,Diego Ramirez,Elena Petrova,Felix Wagner,Hana Sato,Ivan Horvat,Julia Costa,Omar Haddad"
        "|cat_col=major|cat_noun=major|cat_plural=majors|cats=Physics,History,Economics,Biology,Music"
        "|int_col=credits|int_noun=number of credits|ints=0..160|real_col=gpa|real_noun=GPA|reals=1.5..4"
        "|child=exams|child_things=exams|child_id=exam_id|fk=student_id|kind_col=course|kind_noun=course"
        "|kind_plural=courses|kinds=Calculus,Chemistry,Literature,Statistics,Philosophy|kinds_of={kind} exams"
        "|amount_col=score|amount_noun=exam score|amounts=30..100|date_col=exam_date",
    ),
    _domain(
        "logistics",
        "Warehouses, their capacity and utilisation, and outbound shipments by carrier.",
        "table=warehouses|thing=warehouse|things=warehouses|id_col=warehouse_id|name_col=name|names=North Hub,"
        "South Depot,East Gate,West Yard,Central Park,River Dock,Hilltop,Lakeside,Airport Cargo,Rail Terminal"
        "|cat_col=region|cat_noun=region|cat_plural=regions|cats=Northeast,Southeast,Midwest,Southwest,Pacific"
        "|int_col=capacity_pallets|int_noun=capacity in pallets|ints=500..20000|real_col=utilization_pct"
        "|real_noun=utilization percentage|reals=10..99|child=shipments|child_things=shipments"
        "|child_id=shipment_id|fk=warehouse_id|kind_col=carrier|kind_noun=carrier|kind_plural=carriers"
        "|kinds=DHL,FedEx,UPS,Maersk,Schenker|kinds_of=shipments carried by {kind}|amount_col=weight_kg"
        "|amount_noun=shipment weight in kilograms|amounts=1..20000|date_col=ship_date",
    ),
    _domain(
        "energy",
        "Power plants, their installed capacity and efficiency, and maintenance events.",
        "table=power_plants|thing=power plant|things=power plants|id_col=plant_id|name_col=plant_name"
        "|names=Sunridge,Windmere,Blue River,Coal Creek,Atomic Bay,Solaris,Gale Point,Thunder Falls,Ember Station,"
        "Tidewater|cat_col=country|cat_noun=country|cat_plural=countries|cats=Spain,Norway,Chile,India,Australia"
        "|int_col=capacity_mw|int_noun=capacity in megawatts|ints=20..3000|real_col=efficiency_pct"
        "|real_noun=efficiency percentage|reals=15..62|child=maintenance_events|child_things=maintenance events"
        "|child_id=event_id|fk=plant_id|kind_col=event_type|kind_noun=event type|kind_plural=event types"
        "|kinds=Inspection,Repair,Upgrade,Cleaning,Outage|kinds_of={kind} maintenance events|amount_col=cost_usd"
        "|amount_noun=maintenance cost|amounts=100..900000|date_col=event_date",
    ),
    _domain(
        "agriculture",
        "Farms, their area and soil acidity, and crop harvests.",
        "table=farms|thing=farm|things=farms|id_col=farm_id|name_col=farm_name|names=Green Acres,Sunny Fields,"
        "Oak Ranch,Willow Farm,Golden Valley,Maple Grove,Red Barn,Cedar Hill,Prairie Rose,Stony Brook"
        "|cat_col=region|cat_noun=region|cat_plural=regions|cats=Iowa,Kansas,Punjab,Bavaria,Parana"
        "|int_col=area_hectares|int_noun=area in hectares|ints=5..2500|real_col=soil_ph|real_noun=soil pH"
        "|reals=4.5..8.5|child=harvests|child_things=harvests|child_id=harvest_id|fk=farm_id|kind_col=crop"
        "|kind_noun=crop|kind_plural=crops|kinds=Wheat,Corn,Soybean,Rice,Barley|kinds_of={kind} harvests"
        "|amount_col=yield_tons|amount_noun=yield in tons|amounts=0.5..900|date_col=harvest_date",
    ),
    _domain(
        "sports",
        "Professional players, their teams and salaries, and per-game statistics.",
        "table=players|thing=player|things=players|id_col=player_id|name_col=name|names=Marcus Reed,Tomas Silva,"
        "Kenji Mori,Andre Dupont,Luka Petrov,Sam Okafor,Jamal Price,Nils Eriksen,Rafael Ortiz,Owen Walsh"
        "|cat_col=team|cat_noun=team|cat_plural=teams|cats=Falcons,Wolves,Comets,Pirates,Titans|int_col=age"
        "|int_noun=age|ints=18..40|real_col=salary_millions|real_noun=salary in millions|reals=0.5..45"
        "|child=game_stats|child_things=games|child_id=stat_id|fk=player_id|kind_col=opponent|kind_noun=opponent"
        "|kind_plural=opponents|kinds=Lions,Tigers,Bears,Eagles,Sharks|kinds_of=games against the {kind}"
        "|amount_col=minutes_played|amount_noun=minutes played|amounts=1..48|date_col=game_date",
    ),
    _domain(
        "media",
        "Video channels, subscribers and ratings, and the videos they publish by genre.",
        "table=channels|thing=channel|things=channels|id_col=channel_id|name_col=channel_name|names=Daily Byte,"
        "Cook With Kim,Retro Gamer,Deep Space,Urban Sketch,Fit Fast,Quiet Piano,Code Corner,Wild Trails,History Hub"
        "|cat_col=country|cat_noun=country|cat_plural=countries|cats=Brazil,Korea,Nigeria,Mexico,Sweden"
        "|int_col=subscribers_k|int_noun=number of subscribers in thousands|ints=1..9000|real_col=avg_rating"
        "|real_noun=average rating|reals=1..5|child=videos|child_things=videos|child_id=video_id|fk=channel_id"
        "|kind_col=genre|kind_noun=genre|kind_plural=genres|kinds=Music,Gaming,News,Comedy,Tutorial"
        "|kinds_of={kind} videos|amount_col=watch_hours|amount_noun=watch hours|amounts=10..80000"
        "|date_col=publish_date",
    ),
    _domain(
        "public transportation",
        "Transit routes, their stops and delays, and fare revenue per trip by vehicle type.",
        "table=routes|thing=route|things=routes|id_col=route_id|name_col=route_name|names=Red Line,Blue Line,"
        "Green Line,Harbor Express,Airport Shuttle,Night Owl,Crosstown,University Loop,Riverside,Market Street"
        "|cat_col=city|cat_noun=city|cat_plural=cities|cats=Lisbon,Toronto,Melbourne,Prague,Osaka|int_col=stops"
        "|int_noun=number of stops|ints=4..60|real_col=avg_delay_min|real_noun=average delay in minutes"
        "|reals=0..25|child=trips|child_things=trips|child_id=trip_id|fk=route_id|kind_col=vehicle_type"
        "|kind_noun=vehicle type|kind_plural=vehicle types|kinds=Bus,Tram,Metro,Ferry,Train|kinds_of={kind} trips"
        "|amount_col=fare_revenue|amount_noun=fare revenue|amounts=20..3000|date_col=trip_date",
    ),
)

Entity = tuple[int, str, str, int, float | None]
Child = tuple[int, int, str, float, str]


@dataclass(frozen=True)
class Tables:
    """The rows of one example's small database."""

    entities: list[Entity]
    children: list[Child]


def make_tables(r: random.Random, d: Domain) -> Tables:
    n_entities, n_children = r.randint(5, 8), r.randint(7, 11)
    ids = list(range(1, n_entities + 1))
    names, cats = r.sample(d.pool("names"), n_entities), r.sample(d.pool("cats"), 3)
    lo, hi = d.bounds("ints")
    ints = r.sample(range(int(lo), int(hi) + 1), n_entities)  # distinct, so top-k and argmax have no ties
    # Some NULLs, so questions about missing values and NULL-ignoring aggregates have something to find.
    reals = [None if r.random() < 0.15 else v for v in _distinct_reals(r, d.bounds("reals"), n_entities)]
    entities = [(i, names[k], r.choice(cats), ints[k], reals[k]) for k, i in enumerate(ids)]
    # One entity never has child rows, so LEFT JOIN and NOT IN questions differ from their inner forms.
    childless = r.choice(ids)
    parents = [i for i in ids if i != childless]
    kinds = r.sample(d.pool("kinds"), 3)
    amounts = _distinct_reals(r, d.bounds("amounts"), n_children)
    days = sorted(r.sample(range(3 * 365), n_children))
    children = [(100 + k, r.choice(parents), r.choice(kinds), amounts[k], _date(days[k])) for k in range(n_children)]
    return Tables(entities, children)


def _distinct_reals(r: random.Random, bounds: tuple[float, float], n: int) -> list[float]:
    lo, hi = bounds
    return [v / 100 for v in r.sample(range(int(lo * 100), int(hi * 100)), n)]


def _date(day: int) -> str:
    return (datetime.date(2022, 1, 1) + datetime.timedelta(days=day)).isoformat()


def q(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    return q(value) if isinstance(value, str) else repr(value)


def below(r: random.Random, values: list[float | None] | list[float] | list[int]) -> str:
    """A round threshold under some of `values` but not all, so `> threshold` keeps some rows."""
    present = sorted(v for v in values if v is not None)
    if len(present) < 2:
        return "0"
    v = r.choice(present[:-1])
    if isinstance(v, int):
        return str(v)
    return str(round(v - 0.05, 1)) if present[-1] - present[0] < 10 else str(int(v))


def _article(noun: str) -> str:
    return "an" if noun[0].lower() in "aeio" else "a"  # good enough for these nouns ("a utilization ...")


def context_sql(d: Domain, t: Tables, which: str) -> str:
    """CREATE TABLE and INSERT statements for the tables a question needs: "e" entity, "c" child."""
    w = d.words
    entity = ["id_col INTEGER PRIMARY KEY", "name_col TEXT", "cat_col TEXT", "int_col INTEGER", "real_col REAL"]
    child = ["child_id INTEGER PRIMARY KEY", "fk INTEGER", "kind_col TEXT", "amount_col REAL", "date_col DATE"]
    tables: dict[str, tuple[str, list[str], list[Entity] | list[Child]]] = {
        "e": (w["table"], entity, t.entities),
        "c": (w["child"], child, t.children),
    }
    parts = []
    for key in which:
        name, columns, rows = tables[key]
        typed = [(w[c.split(" ", 1)[0]], c.split(" ", 1)[1]) for c in columns]
        parts.append(f"CREATE TABLE {name} ({', '.join(f'{c} {sql_type}' for c, sql_type in typed)});")
        parts.append(f"INSERT INTO {name} ({', '.join(c for c, _ in typed)}) VALUES {_values(rows)};")
    return " ".join(parts)


def _values(rows: list[Entity] | list[Child]) -> str:
    return ", ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)


def draw_values(r: random.Random, d: Domain, t: Tables) -> dict[str, str]:
    """The domain's words plus one random choice of every parameter a pattern may use."""
    w = d.words
    cat, kind = r.choice(sorted({e[2] for e in t.entities})), r.choice(sorted({c[2] for c in t.children}))
    totals: dict[int, float] = {}
    for c in t.children:
        totals[c[1]] = totals.get(c[1], 0.0) + c[3]
    int_v = below(r, [e[3] for e in t.entities])
    int_lo, int_hi = d.bounds("ints")
    word, order, fn = r.choice([("highest", "DESC", "MAX"), ("lowest", "ASC", "MIN")])
    letter = r.choice(t.entities)[1][0]
    return {
        **w,
        "name_noun": w["name_col"].replace("_", " "),
        **{f"a_{noun}": _article(w[noun]) + " " + w[noun] for noun in ("int_noun", "real_noun", "amount_noun")},
        "cat": cat,
        "cat_q": q(cat),
        "kind": kind,
        "kind_q": q(kind),
        "kinds_of": w["kinds_of"].format(kind=kind),
        "year": r.choice(sorted({c[4][:4] for c in t.children})),
        "day": r.choice(sorted(c[4] for c in t.children)[:-1]),
        "letter": letter,
        "letter_q": q(letter + "%"),
        "int_v": int_v,
        "int_hi": str(int(int_v) + r.randint(1, max(2, int(int_hi - int_lo) // 2))),
        "real_v": below(r, [e[4] for e in t.entities]),
        "amount_v": below(r, [c[3] for c in t.children]),
        "total_v": below(r, list(totals.values())),
        "k": str(r.randint(2, 3)),
        "n": str(r.randint(1, 2)),
        "word": word,
        "order": order,
        "fn": fn,
        "join": f"FROM {w['table']} e JOIN {w['child']} c ON e.{w['id_col']} = c.{w['fk']}",
        "left_join": f"FROM {w['table']} e LEFT JOIN {w['child']} c ON e.{w['id_col']} = c.{w['fk']}",
    }


@dataclass(frozen=True)
class Pattern:
    """A question, its gold query and explanation as format strings over `draw_values`; `tables` is "e",
    "c" or "ec": which of the entity and child tables the context needs."""

    complexity: str
    task: str
    tables: str
    prompt: str
    sql: str
    explanation: str


def _patterns(complexity: str, task: str, rows: list[tuple[str, str, str, str]]) -> list[Pattern]:
    return [Pattern(complexity, task, *row) for row in rows]


RETRIEVAL, ANALYTICS = "data retrieval", "analytics and reporting"
# fmt: off
# One block per pattern reads like the question it asks.
PATTERNS = [
    *_patterns("basic SQL", RETRIEVAL, [
        ("e", "List the {name_noun}s of all {things} whose {cat_noun} is {cat}.",
         "SELECT {name_col} FROM {table} WHERE {cat_col} = {cat_q};",
         "Selects {name_col} from {table}, keeping rows whose {cat_col} equals {cat_q}."),
        ("e", "Which {things} have {a_int_noun} between {int_v} and {int_hi}?",
         "SELECT {name_col} FROM {table} WHERE {int_col} BETWEEN {int_v} AND {int_hi};",
         "Filters {table} on {int_col} within the inclusive range {int_v} to {int_hi}."),
        ("e", "Which {things} have no recorded {real_noun}?",
         "SELECT {name_col} FROM {table} WHERE {real_col} IS NULL;",
         "Rows whose {real_col} is NULL have no recorded value; IS NULL finds them (= NULL would not)."),
        ("e", "List the {things} whose {name_noun} starts with the letter {letter}.",
         "SELECT {id_col}, {name_col} FROM {table} WHERE {name_col} LIKE {letter_q};",
         "LIKE {letter_q} matches every {name_col} that begins with {letter}."),
        ("e", "What are the distinct {cat_plural} of {things} with {a_real_noun} above {real_v}?",
         "SELECT DISTINCT {cat_col} FROM {table} WHERE {real_col} > {real_v};",
         "DISTINCT lists each {cat_col} once among rows whose {real_col} exceeds {real_v}."),
        ("c", "Show the ID and {amount_noun} of all {kinds_of} after {day}.",
         "SELECT {child_id}, {amount_col} FROM {child} WHERE {kind_col} = {kind_q} AND {date_col} > '{day}';",
         "Filters {child} on {kind_col} = {kind_q} and on dates later than {day}."),
        ("e", "What are the {name_noun}s of the {k} {things} with the {word} {int_noun}?",
         "SELECT {name_col} FROM {table} ORDER BY {int_col} {order} LIMIT {k};",
         "Sorts {table} by {int_col} {order} and keeps the first {k} rows."),
        ("e", "List the {name_noun} and {int_noun} of {things} whose {cat_noun} is not {cat}, from the smallest "
              "{int_noun} to the largest.",
         "SELECT {name_col}, {int_col} FROM {table} WHERE {cat_col} <> {cat_q} ORDER BY {int_col} ASC;",
         "Excludes {cat_col} {cat_q} and orders the remaining rows by {int_col} ascending."),
        ("c", "List the IDs of {child_things} with {a_amount_noun} greater than {amount_v}.",
         "SELECT {child_id} FROM {child} WHERE {amount_col} > {amount_v};",
         "Keeps the {child} rows whose {amount_col} is above {amount_v}."),
    ]),
    *_patterns("aggregation", ANALYTICS, [
        ("e", "How many {things} have {a_int_noun} greater than {int_v}?",
         "SELECT COUNT(*) FROM {table} WHERE {int_col} > {int_v};",
         "Counts the {table} rows whose {int_col} exceeds {int_v}."),
        ("e", "What is the average {real_noun} of {things} whose {cat_noun} is {cat}?",
         "SELECT AVG({real_col}) FROM {table} WHERE {cat_col} = {cat_q};",
         "AVG over {real_col} for {cat_q}; AVG skips NULL values."),
        ("c", "What is the total {amount_noun} of all {kinds_of}?",
         "SELECT SUM({amount_col}) FROM {child} WHERE {kind_col} = {kind_q};",
         "Sums {amount_col} over the {child} rows with {kind_col} {kind_q}."),
        ("e", "How many {things} with {a_int_noun} above {int_v} are there in each {cat_noun}?",
         "SELECT {cat_col}, COUNT(*) FROM {table} WHERE {int_col} > {int_v} GROUP BY {cat_col};",
         "Filters on {int_col} > {int_v}, then counts rows per {cat_col}."),
        ("e", "Which {cat_plural} have more than {n} {things}?",
         "SELECT {cat_col} FROM {table} GROUP BY {cat_col} HAVING COUNT(*) > {n};",
         "Groups {table} by {cat_col} and keeps the groups with more than {n} rows."),
        ("e", "Which {cat_plural} have an average {int_noun} above {int_v}?",
         "SELECT {cat_col}, AVG({int_col}) FROM {table} GROUP BY {cat_col} HAVING AVG({int_col}) > {int_v};",
         "HAVING filters the per-{cat_col} averages of {int_col} after grouping."),
        ("c", "What was the {word} {amount_noun} among {child_things} in {year}?",
         "SELECT {fn}({amount_col}) FROM {child} WHERE strftime('%Y', {date_col}) = '{year}';",
         "strftime('%Y', ...) extracts the year; {fn} takes the {word} {amount_col} in {year}."),
        ("c", "Which {kind_noun} has the {word} total {amount_noun}?",
         "SELECT {kind_col}, SUM({amount_col}) AS total FROM {child} GROUP BY {kind_col} ORDER BY total {order} LIMIT "
         "1;",
         "Sums {amount_col} per {kind_col}, sorts the totals {order} and keeps the first."),
        ("c", "Which {k} {kind_plural} have the highest total {amount_noun}?",
         "SELECT {kind_col}, SUM({amount_col}) AS total FROM {child} GROUP BY {kind_col} ORDER BY total DESC LIMIT "
         "{k};",
         "Sums {amount_col} per {kind_col}, sorts the totals descending and keeps the top {k}."),
        ("c", "How many different {kind_plural} appear among the {child_things} of {year}?",
         "SELECT COUNT(DISTINCT {kind_col}) FROM {child} WHERE {date_col} BETWEEN '{year}-01-01' AND '{year}-12-31';",
         "COUNT(DISTINCT {kind_col}) counts each {kind_col} once within {year}."),
    ]),
    *_patterns("single join", ANALYTICS, [
        ("ec", "What is the total {amount_noun} of {child_things} for each {thing}?",
         "SELECT e.{name_col}, SUM(c.{amount_col}) {join} GROUP BY e.{name_col};",
         "Joins {table} to {child} on {fk} and sums {amount_col} per {thing}."),
        ("ec", "What is the total {amount_noun} of {child_things} in {year} for each {thing}?",
         "SELECT e.{name_col}, SUM(c.{amount_col}) {join} WHERE c.{date_col} LIKE '{year}-%' GROUP BY e.{name_col};",
         "Joins {table} to {child}, keeps dates in {year} and sums {amount_col} per {thing}."),
        ("ec", "Which {things} whose {cat_noun} is {cat} have any {kinds_of}?",
         "SELECT DISTINCT e.{name_col} {join} WHERE e.{cat_col} = {cat_q} AND c.{kind_col} = {kind_q};",
         "Joins the two tables, filters on both {cat_col} and {kind_col}, and removes duplicate names."),
        ("ec", "How many {child_things} belong to {things} whose {cat_noun} is {cat}?",
         "SELECT COUNT(*) {join} WHERE e.{cat_col} = {cat_q};",
         "COUNT(*) counts the joined rows: one per {child} row of the {things} in {cat}."),
        ("ec", "How many {child_things} does each {thing} have, including {things} with none?",
         "SELECT e.{name_col}, COUNT(c.{child_id}) {left_join} GROUP BY e.{name_col};",
         "A LEFT JOIN keeps {things} without {child_things}; counting a child column gives them 0."),
        ("ec", "Which {thing} has the single largest {amount_noun} among {kinds_of}?",
         "SELECT e.{name_col} {join} WHERE c.{kind_col} = {kind_q} ORDER BY c.{amount_col} DESC LIMIT 1;",
         "Joins, keeps {kind_col} {kind_q}, sorts by {amount_col} descending and takes the first row."),
        ("ec", "What is the average {amount_noun} of {child_things} in {year} for each {thing} {cat_noun}?",
         "SELECT e.{cat_col}, AVG(c.{amount_col}) {join} WHERE strftime('%Y', c.{date_col}) = '{year}' GROUP BY "
         "e.{cat_col};",
         "Joins, keeps {year}, then averages {amount_col} per {cat_col} of the owning {thing}."),
    ]),
    *_patterns("subqueries", RETRIEVAL, [
        ("e", "Which {things} have {a_int_noun} above the average {int_noun} of all {things}?",
         "SELECT {name_col} FROM {table} WHERE {int_col} > (SELECT AVG({int_col}) FROM {table});",
         "The subquery computes the average {int_col}; the outer query keeps the rows above it."),
        ("e", "Which {things} whose {cat_noun} is {cat} have {a_int_noun} above the average of all {things}?",
         "SELECT {name_col} FROM {table} WHERE {cat_col} = {cat_q} AND {int_col} > (SELECT AVG({int_col}) FROM "
         "{table});",
         "The subquery averages {int_col} over every row; the outer query keeps {cat} rows above it."),
        ("ec", "Which {things} have no {child_things} at all?",
         "SELECT {name_col} FROM {table} WHERE {id_col} NOT IN (SELECT {fk} FROM {child});",
         "NOT IN excludes every {thing} whose {id_col} appears in {child}."),
        ("ec", "Which {things} have no {kinds_of} at all?",
         "SELECT {name_col} FROM {table} WHERE {id_col} NOT IN (SELECT {fk} FROM {child} WHERE {kind_col} = "
         "{kind_q});",
         "NOT IN excludes every {thing} with any {child} row of {kind_col} {kind_q}."),
        ("ec", "List the {name_noun}s of {things} with at least one of the {kinds_of}.",
         "SELECT {name_col} FROM {table} WHERE {id_col} IN (SELECT {fk} FROM {child} WHERE {kind_col} = {kind_q});",
         "The subquery lists the {fk} values of {kind_q} rows; IN keeps the matching {things}."),
        ("c", "Which {child_things} have {a_amount_noun} above the average for their {kind_noun}?",
         "SELECT {child_id}, {kind_col}, {amount_col} FROM {child} AS c1 WHERE {amount_col} > (SELECT "
         "AVG(c2.{amount_col}) FROM {child} AS c2 WHERE c2.{kind_col} = c1.{kind_col});",
         "A correlated subquery computes the average {amount_col} of each row's own {kind_col}."),
        ("e", "Which of the {things} has the {word} {real_noun}?",
         "SELECT {name_col} FROM {table} WHERE {real_col} = (SELECT {fn}({real_col}) FROM {table});",
         "The subquery finds the {word} {real_col}; the outer query returns the row that has it."),
        ("e", "Which of the {things} whose {cat_noun} is {cat} has the {word} {real_noun}?",
         "SELECT {name_col} FROM {table} WHERE {cat_col} = {cat_q} AND {real_col} = (SELECT {fn}({real_col}) FROM "
         "{table} WHERE {cat_col} = {cat_q});",
         "The subquery finds the {word} {real_col} within {cat}; the outer query returns its row."),
        ("c", "How many {things} have a combined {amount_noun} of more than {total_v} across their {child_things}?",
         "SELECT COUNT(*) FROM (SELECT {fk} FROM {child} GROUP BY {fk} HAVING SUM({amount_col}) > {total_v});",
         "The derived table keeps each {fk} whose summed {amount_col} exceeds {total_v}; the outer query counts them."),
    ]),
    *_patterns("window functions", ANALYTICS, [
        ("e", "Rank the {things} with {a_int_noun} of at least {int_v} by {int_noun} within each {cat_noun}, highest "
              "first.",
         "SELECT {name_col}, {cat_col}, RANK() OVER (PARTITION BY {cat_col} ORDER BY {int_col} DESC) AS rnk FROM "
         "{table} WHERE {int_col} >= {int_v};",
         "RANK() restarts for each {cat_col} (PARTITION BY) and orders by {int_col} descending."),
        ("e", "For each {cat_noun}, which {thing} has the {word} {int_noun}?",
         "SELECT {cat_col}, {name_col} FROM (SELECT {cat_col}, {name_col}, ROW_NUMBER() OVER (PARTITION BY {cat_col} "
         "ORDER BY {int_col} {order}) AS rn FROM {table}) WHERE rn = 1;",
         "ROW_NUMBER() numbers the rows of each {cat_col}; row 1 has the {word} {int_col}."),
        ("c", "Show the running total of {amount_noun} by date for {kinds_of}.",
         "SELECT {date_col}, SUM({amount_col}) OVER (ORDER BY {date_col}) AS running_total FROM {child} WHERE "
         "{kind_col} = {kind_q};",
         "SUM() OVER (ORDER BY {date_col}) accumulates {amount_col} up to each date."),
        ("c", "For {kinds_of}, show each date, the {amount_noun} and the change from the previous one.",
         "SELECT {date_col}, {amount_col}, {amount_col} - LAG({amount_col}) OVER (ORDER BY {date_col}) AS change FROM "
         "{child} WHERE {kind_col} = {kind_q};",
         "LAG() reads the previous row's {amount_col} in date order; the first row's change is NULL."),
        ("c", "Rank the {child_things} of {year} by {amount_noun} within each {kind_noun}.",
         "SELECT {child_id}, {kind_col}, DENSE_RANK() OVER (PARTITION BY {kind_col} ORDER BY {amount_col} DESC) AS "
         "rnk FROM {child} WHERE strftime('%Y', {date_col}) = '{year}';",
         "DENSE_RANK() ranks {amount_col} within each {kind_col}, for the rows of {year}."),
        ("c", "What percentage of the total {amount_noun} in {year} does each {kind_noun} account for?",
         "SELECT {kind_col}, SUM({amount_col}) * 100.0 / SUM(SUM({amount_col})) OVER () AS pct FROM {child} WHERE "
         "{date_col} LIKE '{year}-%' GROUP BY {kind_col};",
         "SUM(SUM(...)) OVER () is the grand total over all groups, so each group's sum is divided by it."),
    ]),
]
# fmt: on


def informative(rows: list[tuple[object, ...]]) -> bool:
    """Non-empty, and not a lone NULL or zero aggregate (an answer that says nothing about the query)."""
    return bool(rows) and not (len(rows) == 1 and all(v is None or v == 0 for v in rows[0]))


def run(context: str, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(context)
        return list(conn.execute(sql).fetchall())
    finally:
        conn.close()


def generate(seed: int = 20260101, n: int = 400) -> list[dict[str, object]]:
    """`n` rows, domains in turn; a draw whose question repeats or whose gold query finds nothing is redrawn."""
    r = random.Random(seed)
    by_complexity = {c: [p for p in PATTERNS if p.complexity == c] for c in WEIGHTS}
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for i in range(n):
        d = DOMAINS[i % len(DOMAINS)]
        complexity = r.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        for _attempt in range(200):
            pattern = r.choice(by_complexity[complexity])
            tables = make_tables(r, d)
            values = draw_values(r, d, tables)
            prompt, sql = pattern.prompt.format(**values), pattern.sql.format(**values)
            context = context_sql(d, tables, pattern.tables)
            if prompt not in seen and informative(run(context, sql)):
                break
        else:
            raise RuntimeError(f"no usable {complexity!r} question for {d.name} after 200 draws (row {i + 1})")
        seen.add(prompt)
        rows.append(
            {
                "id": i + 1,
                "domain": d.name,
                "domain_description": d.description,
                "sql_complexity": complexity,
                "sql_complexity_description": COMPLEXITY_DESCRIPTIONS[complexity],
                "sql_task_type": pattern.task,
                "sql_task_type_description": TASK_DESCRIPTIONS[pattern.task],
                "sql_prompt": prompt,
                "sql_context": context,
                "sql": sql,
                "sql_explanation": pattern.explanation.format(**values),
            }
        )
    return rows


def dumps(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quantop_build.sqlgen", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="JSONL file to write (default: standard output)")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("-n", type=int, default=400, help="number of rows (default: 400)")
    args = parser.parse_args(argv)
    text = dumps(generate(args.seed, args.n))
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_bytes(text.encode())
        print(f"wrote {args.n} rows to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
