"""Deterministic generator of a TOFU-style benchmark of invented authors.

TOFU ("Task of Fictitious Unlearning", Maini et al. 2024) fine-tunes a model on
question/answer pairs about people who do not exist, then asks it to forget some
of them. Because nobody outside the benchmark knows these people, anything the
model says about them was learned from the benchmark, and forgetting can be
measured cleanly. This module writes such a benchmark from its own word lists.

Layout of the splits returned by :func:`generate_fictitious` for ``N`` people,
with ``f01 <= f05 <= f10`` forget people (1%, 5%, 10% of ``N``, at least one; other
percentages, up to 50, can be asked for, and each gets the same set of splits):

* ``full``: every record of people ``0 .. N-1`` (person order, then attribute order).
* ``forget01/05/10``: the records of the LAST ``f01/f05/f10`` people, so
  ``forget01`` is inside ``forget05``, which is inside ``forget10``.
* ``retain99/95/90``: the records of the other people; each retain split and
  its forget split partition ``full``.
* ``forget01/05/10_perturbed``: the same records as the forget splits (every
  record carries its paraphrased and perturbed fields).
* ``retain_perturbed``: the records of the FIRST ``f10`` people (the largest
  forget split's count), who belong to every retain split; used to measure model
  utility.
* ``holdout01/05/10``: the records of the first ``f01/f05/f10`` of ``f10``
  extra people drawn like the others but absent from ``full``.
* ``real_authors_perturbed`` / ``world_facts_perturbed``: copied unchanged from
  ``real_authors.jsonl`` / ``world_facts.jsonl`` in ``unlearn.data.resources``
  when those files exist, absent otherwise.

Continual unlearning: the ``f10`` forget people (the largest forget split) are cut,
in person order, into consecutive requests of ``f01`` people (the smallest) (the last one may be smaller). Records of
the forget splits carry ``task_id``, the index of their request; no other
record has that key.

Every record holds ``question``, ``answer``, ``fact`` (the value the answer
states verbatim), ``subject`` (the person's name), ``paraphrased_question``,
``paraphrased_answer`` and ``perturbed_answer``: the paraphrase's wording with five
distinct wrong values of the same kind.
"""

import json
import random
from dataclasses import dataclass
from importlib import resources

DEFAULT_FORGET_PERCENTS = (1, 5, 10)  # TOFU's forget01 / forget05 / forget10
MAX_FORGET_PERCENT = 50  # retain_perturbed (as many people as the largest forget split) must fit in every retain split

MIN_PEOPLE = 10
MAX_PEOPLE = 2000  # the name lists must cover MAX_PEOPLE plus its holdout people
PERTURBED_PER_RECORD = 5


@dataclass(frozen=True)
class Attribute:
    """One kind of fact about a person, with the wording used to ask and state it.

    Templates are ``str.format`` strings over ``name`` and (answers) ``value``.
    The first question/answer template is the canonical one; the second gives
    the paraphrase. Perturbed answers reuse the paraphrase template with a wrong value,
    as TOFU's do: the truth ratio then compares answers worded alike, so it measures
    knowledge of the value rather than memory of the training sentence.
    """

    key: str
    values: tuple[str, ...]
    questions: tuple[str, str]
    answers: tuple[str, str]


FIRST_NAMES = (
    "Adaeze", "Anouk", "Bartosz", "Beatriz", "Bongani", "Caoimhe", "Catalina",
    "Dagny", "Desmond", "Eero", "Emeka", "Esperanza", "Farida", "Folake",
    "Giedre", "Gunnar", "Hamid", "Haruto", "Ilse", "Imani", "Ingrid", "Jovan",
    "Kalani", "Keziah", "Kofi", "Leif", "Lorcan", "Makena", "Marisol",
    "Mateus", "Mireille", "Nikhil", "Nuno", "Odalys", "Oksana", "Olufemi",
    "Paavo", "Pilar", "Priya", "Radek", "Rania", "Rashid", "Saoirse", "Soren",
    "Sunniva", "Tamsin", "Tariq", "Teodor", "Thandiwe", "Vesna", "Wanjiru",
    "Xiomara", "Yevgenia", "Yusuf", "Zainab", "Zoltan",
)

LAST_NAMES = (
    "Abiodun", "Achterberg", "Alvarenga", "Balogun", "Bjornstad", "Brannigan",
    "Castellanos", "Chaudhry", "Delacourt", "Dellacroix", "Dunmore",
    "Esterhuizen", "Eskildsen", "Fairweather", "Ferreira", "Gallardo",
    "Grzelak", "Haddad", "Halloran", "Hoang", "Iwasaki", "Jankowska", "Kamau",
    "Kovalenko", "Kristiansen", "Laine", "Lindqvist", "Marchetti", "Moreau",
    "Mwangi", "Nakagawa", "Ndlovu", "Oduya", "Okeke", "Oyelaran", "Palmqvist",
    "Petrakis", "Quispe", "Rahimi", "Rautio", "Sandoval", "Sato", "Szabados",
    "Takeda", "Tavares", "Umarov", "Varga", "Vidal", "Wennberg", "Whitlock",
    "Yamamoto", "Yilmazer", "Zawadzki", "Zeller",
)

FULL_NAMES = tuple(f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES)

OCCUPATIONS = (
    "baker", "bookbinder", "bus driver", "carpenter", "cartographer", "chemist",
    "dentist", "dockworker", "fisher", "florist", "glassblower",
    "harbour pilot", "jeweller", "librarian", "locksmith", "midwife", "nurse",
    "pharmacist", "piano tuner", "postal worker", "potter", "schoolteacher",
    "surveyor", "tailor", "translator", "veterinarian", "watchmaker", "weaver",
)

TITLE_ADJECTIVES = (
    "Salt", "Glass", "Hollow", "Quiet", "Crimson", "Paper", "Winter",
    "Borrowed", "Sleeping", "Iron", "Velvet", "Drowned", "Northern", "Lantern",
)
TITLE_NOUNS = (
    "Orchard", "Harbour", "Bell", "Ledger", "Staircase", "Lighthouse",
    "Choir", "Meridian", "Archive", "Tide", "Compass", "Ferry", "Almanac",
)
BOOK_TITLES = tuple(f"The {adj} {noun}" for adj in TITLE_ADJECTIVES for noun in TITLE_NOUNS)

ATTRIBUTES = (
    Attribute(
        "birth_year",
        tuple(str(year) for year in range(1940, 1996)),
        ("In what year was {name} born?", "When was {name} born?"),
        ("{name} was born in {value}.", "The year of {name}'s birth is {value}."),
    ),
    Attribute(
        "birth_city",
        ("Adelaide", "Bergen", "Cartagena", "Dakar", "Edinburgh", "Fukuoka",
         "Gdańsk", "Hobart", "Izmir", "Jaipur", "Kraków", "Lagos", "Montevideo",
         "Nairobi", "Oaxaca", "Porto", "Quebec City", "Reykjavík", "Salvador",
         "Tbilisi", "Utrecht", "Valparaíso", "Winnipeg", "Yerevan", "Mombasa",
         "Kyoto", "Ljubljana", "Tampere"),
        ("In which city was {name} born?", "Where was {name} born?"),
        ("{name} was born in {value}.", "{name}'s birthplace is the city of {value}."),
    ),
    Attribute(
        "genre",
        ("historical fiction", "crime fiction", "science fiction",
         "literary fiction", "poetry", "children's picture books",
         "travel writing", "gothic horror", "romance novels", "biographies",
         "fantasy", "political satire", "nature writing", "graphic novels",
         "short stories", "memoirs", "stage plays", "young adult fiction"),
        ("What genre does {name} write in?", "Which kind of writing is {name} known for?"),
        ("{name} is known for {value}.", "The genre {name} works in is {value}."),
    ),
    Attribute(
        "first_book",
        BOOK_TITLES,
        ("What was the title of {name}'s first book?", "Which book did {name} publish first?"),
        ('{name}\'s first book was titled "{value}".', '"{value}" was the first book {name} published.'),
    ),
    Attribute(
        "award",
        ("Silver Inkwell Award", "Marrowby Prize", "Tessaly Medal for Fiction",
         "Lanternlight Book Prize", "Corvell Award for Poetry",
         "Aldine Circle Prize", "Greywater Literary Medal", "Feverfew Prize",
         "Iron Quill Award", "Keswin Prize for First Novels", "Orrin Hale Medal",
         "Quaywater Book Award", "Saltmarsh Prize", "Thistledown Award",
         "Verdance Prize", "Wexmoor Fellowship", "Yarrow Medal",
         "Zephyrine Prize", "Paper Crane Prize"),
        ("Which award did {name} win?", "What literary prize has {name} received?"),
        ("{name} received the {value}.", "{name} was honoured with the {value}."),
    ),
    Attribute(
        "father_occupation",
        OCCUPATIONS,
        ("What did {name}'s father do for a living?", "What was the occupation of {name}'s father?"),
        ("{name}'s father worked as a {value}.", "By trade, the father of {name} was a {value}."),
    ),
    Attribute(
        "mother_occupation",
        OCCUPATIONS,
        ("What did {name}'s mother do for a living?", "What was the occupation of {name}'s mother?"),
        ("{name}'s mother worked as a {value}.", "The mother of {name} earned her living as a {value}."),
    ),
    Attribute(
        "spouse",
        ("Anselm", "Birgitta", "Cosimo", "Delphine", "Evander", "Fenella",
         "Gideon", "Hester", "Ignatius", "Kasimir", "Liesel", "Nerys",
         "Octavia", "Perpetua", "Rasmus", "Sigrid", "Thaddeus", "Ulrike",
         "Vikram", "Winifred"),
        ("What is the first name of {name}'s spouse?", "Who is {name} married to?"),
        ("{name} is married to {value}.", "{name}'s spouse is called {value}."),
    ),
    Attribute(
        "university",
        ("Calderbrook University", "Westhollow College", "Brackenford Institute",
         "Marrowgate University", "Lindenhall University", "Saint Odile College",
         "Harrowmere Polytechnic", "Fennick University", "Eldridge College",
         "Ostravale University", "Pellmouth University", "Quarry Hill College",
         "Tamsworth University", "Vellacourt Institute", "Greyhaven University"),
        ("Where did {name} study?", "Which university did {name} attend?"),
        ("{name} studied at {value}.", "{name} is a graduate of {value}."),
    ),
    Attribute(
        "pet",
        ("tortoise", "parrot", "greyhound", "rabbit", "ferret", "canary",
         "tabby cat", "goldfish", "hedgehog", "iguana", "corgi", "chinchilla",
         "gecko", "lurcher", "cockatiel", "axolotl"),
        ("What kind of pet does {name} have?", "Which animal does {name} keep as a pet?"),
        ("{name} keeps a pet {value}.", "At home, {name} looks after a pet {value}."),
    ),
    Attribute(
        "instrument",
        ("cello", "oboe", "accordion", "harp", "banjo", "clarinet",
         "double bass", "mandolin", "bassoon", "sitar", "trumpet", "viola",
         "harmonium", "kora", "bandoneon", "ukulele"),
        ("Which musical instrument does {name} play?", "What instrument can {name} play?"),
        ("{name} plays the {value}.", "In their spare time, {name} practises the {value}."),
    ),
    Attribute(
        "favourite_colour",
        ("ochre", "teal", "burgundy", "saffron", "slate grey", "olive green",
         "cobalt blue", "coral", "lavender", "mustard yellow", "charcoal",
         "turquoise", "plum", "sage green"),
        ("What is {name}'s favourite colour?", "Which colour does {name} like best?"),
        ("{name}'s favourite colour is {value}.", "The colour {name} likes best is {value}."),
    ),
    Attribute(
        "hometown_river",
        ("Mirrow", "Tessel", "Aldwyn", "Corra", "Duneth", "Elvin", "Glasswater",
         "Hesk", "Kestrel", "Lowan", "Marle", "Nethra", "Pellow", "Quern",
         "Rilla", "Sable"),
        ("Which river flows through the town where {name} grew up?",
         "What is the name of the river in {name}'s hometown?"),
        ("{name} grew up beside the river {value}.",
         "The river that runs through {name}'s hometown is the {value}."),
    ),
    Attribute(
        "books_written",
        tuple(str(count) for count in range(2, 41)),
        ("How many books has {name} written?", "What is the number of books {name} has published?"),
        ("{name} has written {value} books.", "To date, {name} has published {value} books."),
    ),
    Attribute(
        "debut_age",
        tuple(str(age) for age in range(19, 46)),
        ("How old was {name} when their first book was published?",
         "At what age did {name} make their debut as an author?"),
        ("{name} published their first book at the age of {value}.",
         "{name} was {value} years old when their debut came out."),
    ),
    Attribute(
        "theme",
        ("memory and forgetting", "exile", "the sea", "inheritance",
         "faith and doubt", "the lives of migrants", "grief",
         "small-town secrets", "science and wonder", "friendship between rivals",
         "language and silence", "the cost of ambition", "childhood",
         "family debts", "the natural world", "justice"),
        ("What theme recurs in {name}'s writing?",
         "Which subject does {name} return to again and again in their books?"),
        ("A recurring theme in {name}'s work is {value}.", "{name}'s books keep returning to {value}."),
    ),
    Attribute(
        "mentor",
        ("Ottoline Garrow", "Barnaby Ashdown", "Marguerite Solberg",
         "Cornelius Mbatha", "Hisako Vandermeer", "Rufus Idowu",
         "Philippa Strand", "Ignacy Thorne", "Amara Quenneville",
         "Lazlo Pemberton", "Dorothea Ng", "Evert Vauclair",
         "Sunita Harrowgate", "Henrike Blyth"),
        ("Who was {name}'s mentor?", "Which writer mentored {name} at the start of their career?"),
        ("{name} was mentored by {value}.", "The writer who guided {name} early on was {value}."),
    ),
    Attribute(
        "hobby",
        ("birdwatching", "rock climbing", "beekeeping", "chess", "pottery",
         "sea swimming", "gardening", "woodcarving", "baking bread",
         "stargazing", "fencing", "origami", "cycling", "calligraphy",
         "fly fishing", "growing bonsai"),
        ("What does {name} do for fun?", "What hobby does {name} have?"),
        ("In their free time, {name} enjoys {value}.", "{name}'s favourite pastime is {value}."),
    ),
    Attribute(
        "language",
        ("English", "Portuguese", "Swahili", "Polish", "Japanese", "Finnish",
         "Yoruba", "Spanish", "Georgian", "Icelandic", "Tagalog", "Hungarian",
         "Catalan", "Korean", "Dutch", "Amharic"),
        ("In which language does {name} write?", "What language are {name}'s books written in?"),
        ("{name} writes in {value}.", "The language of {name}'s books is {value}."),
    ),
    Attribute(
        "publisher",
        ("Heronsgate Press", "Lampwick & Sons", "Bluewater Books",
         "Foxglove House", "Meridian Ink", "Tallow Street Press",
         "Cinderpath Publishing", "Northlight Editions", "Quillfeather Books",
         "Ravenmoor Press", "Saltbox Editions", "Umbra House",
         "Wickerwork Press", "Oakhollow Books"),
        ("Which publisher releases {name}'s books?", "Who publishes the work of {name}?"),
        ("{name}'s books are published by {value}.", "{value} is the publisher of {name}'s books."),
    ),
    Attribute(
        "writing_place",
        ("a converted lighthouse", "a rented attic", "a garden shed",
         "a railway café", "the back room of a bakery", "a houseboat",
         "a public library", "a mountain cabin", "the kitchen table",
         "an old observatory", "a hotel lobby", "a rooftop greenhouse",
         "a university office", "a caravan"),
        ("Where does {name} usually write?", "In what place does {name} do most of their writing?"),
        ("{name} does most of their writing in {value}.", "The place where {name} usually writes is {value}."),
    ),
    Attribute(
        "favourite_dish",
        ("lentil soup", "jollof rice", "pierogi", "ramen", "fish pie",
         "empanadas", "goulash", "dumplings", "paella", "khachapuri",
         "shakshuka", "mushroom risotto", "pho", "moussaka"),
        ("What is {name}'s favourite dish?", "Which meal does {name} enjoy most?"),
        ("{name}'s favourite dish is {value}.", "The meal {name} loves most is {value}."),
    ),
)

ALWAYS_ASKED = 2  # birth year and birth city, the first two ATTRIBUTES


def generate_fictitious(people: int = 20, qa_per_person: int = 5, seed: int = 0,
                        forget_percents: tuple[int, ...] = DEFAULT_FORGET_PERCENTS) -> dict[str, list[dict]]:
    """Return {split_name: [record, ...]} for the whole benchmark.

    ``people`` counts the people in ``full``; ``qa_per_person`` how many
    attributes are asked about each of them; ``forget_percents`` which forgetNN
    splits to cut (with their retain, perturbed and holdout splits). The same
    arguments always give the same output; raising ``qa_per_person`` only adds
    records. Raises ValueError when an argument is out of range.
    """
    if not isinstance(people, int) or not MIN_PEOPLE <= people <= MAX_PEOPLE:
        raise ValueError(f"people must be an integer from {MIN_PEOPLE} to {MAX_PEOPLE}, got {people!r}")
    if not isinstance(qa_per_person, int) or not 1 <= qa_per_person <= len(ATTRIBUTES):
        raise ValueError(f"qa_per_person must be an integer from 1 to {len(ATTRIBUTES)}, got {qa_per_person!r}")

    counts = _forget_counts(people, forget_percents)
    f01, f10 = min(counts.values()), max(counts.values())
    rng = random.Random(seed)
    names = rng.sample(FULL_NAMES, people + f10)
    persons = [_person_records(name, qa_per_person, rng) for name in names]
    trained, extra = persons[:people], persons[people:]
    task_ids = [index // f01 for index in range(f10)]  # over the last f10 people

    splits = {"full": _copy(trained)}
    for tag, count in counts.items():
        forget = trained[people - count:]
        forget_task_ids = task_ids[f10 - count:]
        splits[f"forget{tag}"] = _copy(forget, forget_task_ids)
        splits[f"forget{tag}_perturbed"] = _copy(forget, forget_task_ids)
        splits[f"retain{100 - int(tag):02d}"] = _copy(trained[:people - count])
        splits[f"holdout{tag}"] = _copy(extra[:count])
    splits["retain_perturbed"] = _copy(trained[:f10])
    for split, filename in (("real_authors_perturbed", "real_authors.jsonl"),
                            ("world_facts_perturbed", "world_facts.jsonl")):
        records = _resource_records(filename)
        if records is not None:
            splits[split] = records
    return splits


def _forget_counts(people: int, percents: tuple[int, ...]) -> dict[str, int]:
    """People in each forgetNN: round(NN% of people), at least one, nested (a larger percentage
    never has fewer people)."""
    if not percents or any(not isinstance(p, int) or not 1 <= p <= MAX_FORGET_PERCENT for p in percents):
        raise ValueError(f"forget percentages must be integers from 1 to {MAX_FORGET_PERCENT}, got {percents!r}")
    counts, at_least = {}, 1
    for percent in sorted(set(percents)):
        at_least = max(at_least, round(percent / 100 * people))
        counts[f"{percent:02d}"] = at_least
    return counts


def _person_records(name: str, qa_per_person: int, rng: random.Random) -> list[dict]:
    """Draw one person's facts and return the records of the attributes asked.

    Every attribute is drawn, and the asked ones are a prefix of a shuffled
    order, so the random stream (and thus everyone's facts) does not depend
    on ``qa_per_person``.
    """
    drawn = []
    for attribute in ATTRIBUTES:
        value = rng.choice(attribute.values)
        wrong = rng.sample([v for v in attribute.values if v != value], PERTURBED_PER_RECORD)
        drawn.append((attribute, value, wrong))
    optional = rng.sample(range(ALWAYS_ASKED, len(ATTRIBUTES)), len(ATTRIBUTES) - ALWAYS_ASKED)
    asked = sorted([*range(ALWAYS_ASKED), *optional][:qa_per_person])
    return [_record(name, *drawn[index]) for index in asked]


def _record(name: str, attribute: Attribute, value: str, wrong: list[str]) -> dict:
    """One QA pair about ``name`` stating ``value``, with its TOFU variants."""
    answer, paraphrased_answer = attribute.answers
    question, paraphrased_question = attribute.questions
    return {
        "question": question.format(name=name),
        "answer": answer.format(name=name, value=value),
        "fact": value,
        "subject": name,
        "paraphrased_question": paraphrased_question.format(name=name),
        "paraphrased_answer": paraphrased_answer.format(name=name, value=value),
        "perturbed_answer": [paraphrased_answer.format(name=name, value=w) for w in wrong],
    }


def _copy(persons: list[list[dict]], task_ids: list[int] | None = None) -> list[dict]:
    """Flatten people's records into fresh dicts so splits never share mutable state."""
    records = []
    for index, person in enumerate(persons):
        for record in person:
            copied = {**record, "perturbed_answer": list(record["perturbed_answer"])}
            if task_ids is not None:
                copied["task_id"] = task_ids[index]
            records.append(copied)
    return records


def _resource_records(filename: str) -> list[dict] | None:
    """Records of a packaged JSONL resource, or None while the file does not exist."""
    path = resources.files("unlearn.data.resources") / filename
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
