"""Benchmark of the assistant's matcher against a naive rapidfuzz baseline.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_matcher.py [--doctors 10000] [--talks 1000]
                                                 [--messages 3000] [--seed 1] [--json]

What is measured, for two knowledge bases:

(a) the bundled knowledge (``knowledge/``: 11 people, 6 talks, 6 doctors);
(b) the bundled knowledge plus N generated people, one Find-a-Doctor listing per generated
    person (``--doctors``) and M generated talks (``--talks``), built in memory.

For each one, a deterministic set of ``--messages`` chat messages is generated, each about one
known entry (mostly a person by name, some talks by title words), with typos (one random
deletion / insertion / substitution / transposition in one word of >= 5 letters of the name
or title, ~50 % of messages) and given/family name order swapped (~30 % of person messages).
The intended entry key ("person:<id>" or "talk:<id>") is recorded.

Then, for the assistant (``bot.core.engine.Assistant``) and for the naive baseline:

1. build: ``Assistant(knowledge)`` construction (the match index and the rest), median of 3
   builds; for the baseline, the time to assemble the alias list from ``alias_triples``;
2. latency p50 / p99 / max in ms of one ``assistant.reply(Message(text))`` (baseline: one
   ``rapidfuzz.process.extractOne``), timed with ``time.perf_counter_ns`` after a warm-up of
   50 messages, with the garbage collector left on;
3. accuracy: share of messages whose reply is about the intended entry (its key is in
   ``reply.ids``; baseline: the key of the best-scoring alias is the intended key);
4. memory: "tracemalloc" is the peak allocated during one extra build, made after the
   latency loop (tracemalloc slows the build and its own traces inflate the RSS, so it is
   neither the timed build nor before the RSS readings); "+RSS" is the resident memory the
   first build added (VmRSS after minus before); "maxRSS" is the process's max RSS
   (``resource.getrusage``) after that matcher's timed loop (a high-water mark of the whole
   run so far, so a baseline's figure includes the assistant measured before it);
5. baselines: ``extractOne(message, aliases)`` with rapidfuzz's defaults (scorer WRatio, no
   processor: rapidfuzz 3 does not lowercase or strip punctuation by default), and the same
   with ``rapidfuzz.utils.default_process`` applied to the message and to every alias (the
   aliases are processed once, at build time, which gives the same matches as passing
   ``processor=default_process`` but without re-processing every alias on every call). The
   aliases are every non-description alias of every entry from ``alias_triples`` (names,
   aliases, topic and specialty names, talk aliases; not cue words, not roles or talk
   titles), minus the space-less copies of names that ``alias_triples`` derives for the
   index ("WangLihua"; ``--baseline-keep-joined`` keeps them); when several entries share
   an alias text, the first one listed wins. When the baseline would take
   longer than ``--baseline-budget`` seconds, it is measured on a random subset of
   ``--baseline-sample`` messages, and the output says so (the assistant's accuracy on the
   same subset is printed next to it for a paired comparison);
6. ratios baseline / assistant for p50 and p99, and a verdict against the targets: assistant
   p99 <= 1 ms on the generated knowledge, >= 20x faster than the baseline at p50 and p99,
   accuracy >= the baseline's, index build <= 1 s.

How to read it: "acc" is the share of messages answered about the right entry; the
breakdown lines show where the misses are (by typo kind, swapped names, names containing a
stopword such as the surnames "He", "Ma", "Du" or the given name "Said"), and a few misses
are listed with the reply's intent and ids. The "gc" line counts the garbage collections
(and their pauses) during the assistant's timed loop, so a "max" caused by a full
collection is visible; the slowest messages are listed too. The first line names the code
measured (git commit and a hash of bot/ and knowledge/, since the tree changes while people
work) and the load average: on a shared 2-core machine latencies move by tens of percent
with the load, so compare runs made under similar load. Progress goes to stderr; ``--json``
prints one JSON document on stdout instead of the tables.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import rapidfuzz  # noqa: E402
from rapidfuzz import process as rf_process  # noqa: E402
from rapidfuzz.utils import default_process  # noqa: E402

from bot.core.engine import Assistant  # noqa: E402
from bot.core.entries import alias_triples, stopword_set  # noqa: E402
from bot.core.normalize import normalize  # noqa: E402
from bot.core.types import Message  # noqa: E402
from bot.knowledge.loader import load_knowledge  # noqa: E402
from bot.knowledge.models import Doctor, Knowledge, Person, Talk, all_texts  # noqa: E402

WARMUP = 50
BUILD_REPEATS = 3
TARGET_P99_MS = 1.0
TARGET_SPEEDUP = 20.0
TARGET_BUILD_S = 1.0
MiB = 1024 * 1024

# --------------------------------------------------------------------------------------------
# Name and title material for generated entries
# --------------------------------------------------------------------------------------------
CN_SURNAMES = [
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun",
    "Ma", "Zhu", "Hu", "Guo", "He", "Gao", "Lin", "Luo", "Zheng", "Liang", "Xie", "Song",
    "Tang", "Han", "Feng", "Deng", "Cao", "Peng", "Zeng", "Xiao", "Tian", "Dong", "Yuan", "Pan",
    "Jiang", "Cai", "Jia", "Ding", "Wei", "Xue", "Ye", "Yan", "Lu", "Du", "Dai", "Xia",
    "Zhong", "Qian", "Shen", "Ren", "Yao", "Fu", "Fang", "Bai", "Cui", "Kang", "Mao", "Qiu",
]
# Two-syllable given names are built from these syllables (15 x 9 = 135) plus 15 one-syllable
# names that are not surnames above.
CN_GIVEN_FIRST = ["Li", "Xiao", "Jian", "Hong", "Yu", "Ming", "Hui", "Jing", "Wen", "Guo",
                  "Hai", "Xue", "Chun", "Zhi", "Yan"]
CN_GIVEN_SECOND = ["hua", "ming", "wei", "jun", "fang", "ling", "ping", "qiang", "ting"]
CN_GIVEN_SINGLE = ["Na", "Min", "Lei", "Jie", "Tao", "Bin", "Yong", "Qing", "Hao", "Ying",
                   "Chao", "Ning", "Rui", "Xin", "Bo"]

MA_SURNAMES = [
    "Benali", "El Idrissi", "Alaoui", "El Amrani", "Bennani", "Tazi", "Berrada", "Chraibi",
    "El Fassi", "Benjelloun", "Lahlou", "Ouazzani", "Cherkaoui", "El Mansouri", "Bouzid",
    "Hajji", "Ziani", "Naciri", "Skalli", "Kettani", "Benkirane", "Belkadi", "El Khatib",
    "Ait Benhaddou", "Ait Ouahmane", "Filali", "Laaroussi", "Saidi", "Moussaoui", "Zerouali",
    "Bakkali", "Tahiri", "El Ouafi", "Jabri", "Lamrani", "Sefrioui", "Guessous", "Hassani",
    "Kabbaj", "El Alami", "Bensouda", "Mernissi", "Sebti", "Bouazza", "Lazrak", "El Ghazi",
    "Boukhris", "Rahmouni", "Benmoussa", "Daoudi", "Essaidi", "Fikri", "Ghali", "Dubois",
    "Moreau", "Lefebvre", "Girard", "Rousseau", "Fontaine", "Chevalier",
]
MA_GIVEN = [
    "Fatima", "Karim", "Mohamed", "Ahmed", "Youssef", "Khadija", "Amina", "Salma", "Nadia",
    "Rachid", "Hicham", "Said", "Samira", "Meryem", "Imane", "Hamza", "Omar", "Zineb", "Laila",
    "Soukaina", "Othmane", "Yassine", "Ayoub", "Mehdi", "Anas", "Nabil", "Hassan", "Hafsa",
    "Hajar", "Houda", "Ilyas", "Jamal", "Kawtar", "Loubna", "Malika", "Mourad", "Nawal", "Rim",
    "Sanaa", "Siham", "Tarik", "Wafae", "Yasmine", "Zakaria", "Abdelkader", "Abdellah", "Adil",
    "Aziz", "Badr", "Bouchra", "Chaimae", "Driss", "Fouad", "Ghizlane", "Hind", "Ibtissam",
    "Jalal", "Karima", "Latifa", "Lamia", "Mounir", "Naima", "Noura", "Ouiam", "Redouane",
    "Saad", "Saloua", "Soufiane", "Taha", "Wiam", "Younes", "Zohra", "Asmae", "Btissam",
    "Dounia", "Farid", "Ghita", "Hanane", "Ikram", "Jawad", "Khalid", "Lahcen", "Mariam",
    "Najat", "Otmane", "Rajae", "Sara", "Souad", "Toufik", "Yousra", "Zahra", "Abdelali",
    "Amal", "Aicha", "Brahim", "Chafik", "Dalila", "Elmahdi", "Fadoua", "Hakim", "Houssam",
    "Ismail", "Jihad", "Kamal", "Lotfi", "Mustapha", "Nadir", "Oumaima", "Rania", "Selma",
    "Widad", "Yahya", "Zouhair", "Abderrahim", "Anouar", "Bilal", "Hayat", "Ilham", "Jihane",
    "Khaoula", "Mohcine", "Nour", "Sofia", "Walid", "Camille", "Julien", "Claire", "Pierre",
    "Sophie", "Nicolas", "Marie", "Thomas", "Isabelle", "Antoine", "Mathilde", "Louis",
    "Chantal", "Vincent", "Helene", "Olivier", "Nathalie", "Laurent", "Celine", "Francois",
]
ROLES = ["Head of Obstetrics", "Chief Anesthesiologist", "Senior Midwife",
         "Head of the Maternity Ward", "Director of Perinatal Care", "Consultant Obstetrician",
         "Head of Neonatology", "Deputy Director of Nursing"]
INSTITUTIONS = ["Hassan II Hospital", "Ibn Rochd University Hospital",
                "Shanghai General Hospital", "Ibn Sina University Hospital",
                "Mohammed VI University Hospital", "Renji Hospital", "Ruijin Hospital",
                "Settat Provincial Hospital"]
POPULATIONS = ["adolescent mothers", "twin pregnancies", "older mothers", "first-time mothers",
               "obese women", "women with anaemia", "refugee women", "women with HIV",
               "preterm births", "home births", "grand multiparas", "women with heart disease"]
SETTINGS = ["district hospitals", "rural clinics", "teaching hospitals", "referral centres",
            "the Settat province", "Shanghai", "night shifts", "mobile teams",
            "low-resource settings", "emergency transfers", "private maternities",
            "primary care"]
TALK_OPENERS = ["Managing", "Preventing", "Treating", "Screening for", "Auditing"]

PERSON_TEMPLATES = ["who is {name}", "{name}", "what did {name} talk about",
                    "tell me about dr {name}", "who is dr {name}?", "what is {name}'s role",
                    "can you tell me about {name}?", "{name} bio"]
TALK_TEMPLATES = ["tell me about the talk on {title}", "{title}",
                  "what was the session {title} about", "who gave the talk {title}?",
                  "which talk covered {title}"]
TALK_SHARE = 0.15      # share of messages about a talk (the rest: about a person)
TYPO_SHARE = 0.50
SWAP_SHARE = 0.30
LOWER_SHARE = 0.50     # messages typed all in lowercase
PARTICLES = {"el", "ait", "ben", "ibn", "abu", "bou", "al"}
TYPO_KINDS = ("deletion", "insertion", "substitution", "transposition")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


# --------------------------------------------------------------------------------------------
# Data shapes
# --------------------------------------------------------------------------------------------
@dataclass
class Targets:
    """What messages can be about: people (with family/given split) and talks (with the
    phrases a user would quote from the title)."""

    people: list[tuple[str, str, str, str]] = field(default_factory=list)  # key,name,family,given
    talks: list[tuple[str, list[str]]] = field(default_factory=list)        # key, phrases


@dataclass
class TestMessage:
    """One generated message and what it is about."""

    text: str
    key: str
    kind: str                   # "person" or "talk"
    typo: str | None = None     # one of TYPO_KINDS, or None
    swapped: bool = False
    stopword_name: bool = False  # the name contains a vocabulary stopword ("He", "Said")


@dataclass
class RunResult:
    """Figures of one matcher on one knowledge base."""

    name: str
    build_s: float
    build_runs_s: list[float]
    tracemalloc_peak_mib: float
    rss_growth_mib: float
    messages: int
    subset: bool
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    accuracy: float
    breakdown: dict = field(default_factory=dict)
    misses: list = field(default_factory=list)
    paired_assistant_accuracy: float | None = None
    max_rss_mib: float = 0.0
    gc: dict = field(default_factory=dict)
    slowest: list = field(default_factory=list)
    cpu_p50_ms: float = 0.0   # CPU time per message (assistant only; see latencies())
    cpu_p99_ms: float = 0.0
    cpu_mean_ms: float = 0.0


# --------------------------------------------------------------------------------------------
# Knowledge
# --------------------------------------------------------------------------------------------
def name_parts(name: str) -> tuple[str, str]:
    """Split a written name into (family, given): leading particles ("El", "Ait") stay with
    the family name; a name of one family name only ("El Hamzaoui") has an empty given name."""
    tokens = name.split()
    i = 0
    while i < len(tokens) - 1 and tokens[i].lower() in PARTICLES:
        i += 1
    return " ".join(tokens[:i + 1]), " ".join(tokens[i + 1:])


def _title_window(title: str, rng: random.Random) -> str:
    """Return a contiguous run of at least 60 % of the title's words (a user quoting it)."""
    words = title.split()
    size = max(3, -(-len(words) * 3 // 5))
    if size >= len(words):
        return title
    start = rng.randrange(0, len(words) - size + 1)
    return " ".join(words[start:start + size])


def bundled_targets(k: Knowledge, rng: random.Random) -> Targets:
    """Targets of the bundled knowledge: its people, and its talks quoted by title words."""
    out = Targets()
    for p in k.people:
        family, given = name_parts(p.name)
        out.people.append((f"person:{p.id}", p.name, family, given))
    for t in k.talks:
        title = all_texts(t.title)[0]  # the English subject (titles may carry translations)
        out.talks.append((f"talk:{t.id}", [title, _title_window(title, rng)]))
    return out


def _person_aliases(family: str, given: str, syllables: tuple[str, str] | None,
                    rng: random.Random) -> list[str]:
    """1-3 aliases: given name first, family name without "El", Chinese syllables spaced."""
    cands = [f"{given} {family}"]
    if family.startswith("El "):
        bare = family[3:]
        cands += [f"{bare} {given}", f"{given} {bare}"]
    if syllables:
        cands.append(f"{family} {syllables[0]} {syllables[1]}")
    if family.startswith("Ait "):
        cands.append(f"{family.replace(' ', '-')} {given}")
    rest = cands[1:]
    rng.shuffle(rest)
    return [cands[0], *rest][:rng.randint(1, 3)]


def generate_people(n: int, rng: random.Random, taken: set) -> list[tuple[Person, str, str]]:
    """Generate ``n`` people (half Chinese, half Moroccan/French-style), unique full names.

    Returns (person, family, given) triples. ``taken`` holds the token sets of names already
    used (the bundled people), so no generated name duplicates another in any word order.
    """
    cn_given = [(a + b, (a, b)) for a in CN_GIVEN_FIRST for b in CN_GIVEN_SECOND]
    cn_given += [(g, None) for g in CN_GIVEN_SINGLE]
    capacity = len(CN_SURNAMES) * len(cn_given) + len(MA_SURNAMES) * len(MA_GIVEN)
    if n > capacity * 0.9:
        raise SystemExit(f"at most {int(capacity * 0.9)} generated people (asked {n})")
    out: list[tuple[Person, str, str]] = []
    while len(out) < n:
        chinese = rng.random() < 0.5
        if chinese:
            family = rng.choice(CN_SURNAMES)
            given, syllables = rng.choice(cn_given)
        else:
            family, given, syllables = rng.choice(MA_SURNAMES), rng.choice(MA_GIVEN), None
        name = f"{family} {given}"
        token_key = frozenset(normalize(name).split())
        if token_key in taken:
            continue
        taken.add(token_key)
        i = len(out) + 1
        described = rng.random() < 0.3
        person = Person(
            id=f"gen-p-{i:05d}", name=name,
            aliases=_person_aliases(family, given, syllables, rng),
            title="Dr.",
            role=rng.choice(ROLES) if described else None,
            institution=rng.choice(INSTITUTIONS) if described else None,
            country="China" if chinese else "Morocco")
        out.append((person, family, given))
    return out


def _topic_phrase(name: str) -> str:
    """Topic name as written inside a title ("The role of midwives" -> "the role of midwives")."""
    return name[0].lower() + name[1:] if not name.isupper() else name


def generate_talks(m: int, people: list[Person], k: Knowledge, rng: random.Random
                   ) -> tuple[list[Talk], list[tuple[str, list[str]]]]:
    """Generate ``m`` talks by generated people: "<Opener> <topic> in <population> at
    <setting>", each (topic, population, setting) used once so a quoted title names one talk.

    Returns the talks and, per talk, the phrases a user would quote (full title, and the
    title without its opening verb).
    """
    topics = [t for t in k.topics if not t.umbrella]
    umbrella = [t.id for t in k.topics if t.umbrella]
    combos = [(t, p, s) for t in topics for p in POPULATIONS for s in SETTINGS]
    if m > len(combos):
        raise SystemExit(f"at most {len(combos)} generated talks (asked {m})")
    rng.shuffle(combos)
    talks, phrases = [], []
    start = max((t.order for t in k.talks), default=0)
    for i, (topic, population, setting) in enumerate(combos[:m], start=1):
        core = f"{_topic_phrase(topic.name)} in {population} at {setting}"
        title = f"{rng.choice(TALK_OPENERS)} {core}"
        speaker = rng.choice(people)
        talk = Talk(id=f"gen-t-{i:05d}", order=start + i, speaker=speaker.id, title=title,
                    aliases=[core], topics=[topic.id, *umbrella[:1]],
                    summary=f"{speaker.name} spoke on {core} (generated for the benchmark).")
        talks.append(talk)
        phrases.append((f"talk:{talk.id}", [title, core]))
    return talks, phrases


def generated_knowledge(base: Knowledge, n_doctors: int, m_talks: int, seed: int
                        ) -> tuple[Knowledge, Targets]:
    """Return the bundled knowledge plus ``n_doctors`` generated people (each with one
    Doctor listing) and ``m_talks`` generated talks, and the message targets of all of it."""
    rng = random.Random(seed)
    taken = {frozenset(normalize(p.name).split()) for p in base.people}
    generated = generate_people(n_doctors, rng, taken)
    people = [p for p, _, _ in generated]
    specialties = [s.id for s in base.specialties]
    topic_ids = [t.id for t in base.topics]
    doctors = [Doctor(id=f"gen-d-{i:05d}", practitioner=p.id,
                      specialty=[rng.choice(specialties)],
                      conditions=rng.sample(topic_ids, rng.randint(1, 3)))
               for i, p in enumerate(people, start=1)]
    talks, talk_phrases = generate_talks(m_talks, people, base, rng) if people else ([], [])
    k = Knowledge(event=base.event, facts=base.facts, people=[*base.people, *people],
                  talks=[*base.talks, *talks], topics=base.topics,
                  specialties=base.specialties, doctors=[*base.doctors, *doctors],
                  emergency=base.emergency, vocabulary=base.vocabulary,
                  version=f"bench-{seed}-{n_doctors}-{m_talks}")
    targets = bundled_targets(base, random.Random(seed + 7))
    targets.people += [(f"person:{p.id}", p.name, fam, giv) for p, fam, giv in generated]
    targets.talks += talk_phrases
    return k, targets


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------
def make_typo(word: str, rng: random.Random) -> tuple[str, str]:
    """Return ``word`` with one random edit and the edit's kind (a transposition swaps two
    different adjacent letters, so it always changes the word)."""
    kind = rng.choice(TYPO_KINDS)
    i = rng.randrange(len(word))
    if kind == "deletion":
        return word[:i] + word[i + 1:], kind
    if kind == "insertion":
        return word[:i] + rng.choice(LETTERS) + word[i:], kind
    if kind == "substitution":
        ch = rng.choice([c for c in LETTERS if c != word[i].lower()])
        return word[:i] + ch + word[i + 1:], kind
    spots = [j for j in range(len(word) - 1) if word[j].lower() != word[j + 1].lower()]
    if not spots:
        return word[:i] + word[i + 1:], "deletion"
    j = rng.choice(spots)
    return word[:j] + word[j + 1] + word[j] + word[j + 2:], kind


def typo_in_phrase(phrase: str, rng: random.Random) -> tuple[str, str | None]:
    """Put one typo in one word of >= 5 letters of ``phrase`` (unchanged when none)."""
    words = phrase.split(" ")
    spots = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not spots:
        return phrase, None
    i = rng.choice(spots)
    words[i], kind = make_typo(words[i], rng)
    return " ".join(words), kind


def generate_messages(targets: Targets, n: int, seed: int, stopwords: set[str]
                      ) -> list[TestMessage]:
    """Generate ``n`` messages about the targets (deterministic for a seed)."""
    rng = random.Random(seed * 7919 + 13)
    out: list[TestMessage] = []
    for _ in range(n):
        if targets.talks and rng.random() < TALK_SHARE:
            key, phrases = rng.choice(targets.talks)
            phrase, swapped, kind = rng.choice(phrases), False, "talk"
            template = rng.choice(TALK_TEMPLATES)
            stop_name = False
        else:
            key, name, family, given = rng.choice(targets.people)
            swapped = bool(given) and rng.random() < SWAP_SHARE
            phrase = f"{given} {family}" if swapped else name
            kind, template = "person", rng.choice(PERSON_TEMPLATES)
            stop_name = any(w in stopwords for w in normalize(name).split())
        typo = None
        if rng.random() < TYPO_SHARE:
            phrase, typo = typo_in_phrase(phrase, rng)
        text = template.format(name=phrase, title=phrase)
        text = text.lower() if rng.random() < LOWER_SHARE else text[0].upper() + text[1:]
        out.append(TestMessage(text, key, kind, typo, swapped, stop_name))
    return out


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------
def code_version() -> dict:
    """Identify the code and knowledge measured (the tree changes while people work): the
    git commit (read-only ``git rev-parse``) and a SHA-256 over bot/**/*.py and the bundled
    knowledge files, so two runs can be told apart."""
    digest = hashlib.sha256()
    files = sorted((ROOT / "bot").rglob("*.py")) + sorted((ROOT / "knowledge").glob("*.y*ml"))
    for f in files:
        digest.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"commit": commit or "unknown", "tree_sha256": digest.hexdigest()[:12]}


def max_rss_mib() -> float:
    """Process max resident set size so far, MiB (ru_maxrss is KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (MiB if sys.platform == "darwin" else 1024)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def rss_now_mib() -> float:
    """Current resident set size, MiB (Linux /proc; 0.0 elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def timed_builds(build, repeats: int = BUILD_REPEATS):
    """Call ``build()`` ``repeats`` times (only one built object alive at a time).

    Returns (last built object, list of build seconds, MiB of resident memory the first
    build added: RSS after it minus RSS before it; later builds reuse the memory freed by
    the previous one, so only the first tells).
    """
    times, obj, grew = [], None, 0.0
    for i in range(repeats):
        obj = None
        gc.collect()
        before = rss_now_mib()
        t0 = time.perf_counter()
        obj = build()
        times.append(time.perf_counter() - t0)
        if i == 0:
            grew = rss_now_mib() - before
    return obj, times, grew


def traced_peak(build) -> float:
    """Peak MiB allocated (tracemalloc) while running ``build()`` once more.

    Done after the timed runs and the latency loop: tracemalloc slows the build and keeps a
    trace per allocation, which would inflate the process's max RSS read after it.
    """
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    traced = build()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del traced
    gc.collect()
    return peak / MiB


class GcWatch:
    """Count garbage collections by generation and time their pauses (gc.callbacks), so a
    latency outlier can be told apart from a full (generation 2) collection."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.pause_ns = [0, 0, 0]
        self.max_ns = [0, 0, 0]
        self._t0 = 0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter_ns()
            return
        gen, dt = info["generation"], time.perf_counter_ns() - self._t0
        self.count[gen] += 1
        self.pause_ns[gen] += dt
        self.max_ns[gen] = max(self.max_ns[gen], dt)

    def summary(self) -> dict:
        """Collections, total and max pause (ms) per generation."""
        return {f"gen{g}": {"n": self.count[g], "total_ms": round(self.pause_ns[g] / 1e6, 2),
                            "max_ms": round(self.max_ns[g] / 1e6, 2)} for g in range(3)}


def latencies(fn, messages: list[TestMessage], warmup: list[TestMessage]):
    """Time ``fn(message)`` over ``messages`` after running it on ``warmup``.

    Returns (list of ns per call, list of results, GC summary of the timed loop, list of
    CPU ns per call). The CPU time (``time.thread_time_ns``) leaves out the time the
    thread waited for a core: on a loaded machine it tells the code's cost apart from
    the machine's.
    """
    for m in warmup:
        fn(m)
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    times, results, cpu = [], [], []
    watch = GcWatch()
    gc.callbacks.append(watch)
    try:
        for m in messages:
            c0 = cpu_clock()
            t0 = clock()
            r = fn(m)
            times.append(clock() - t0)
            cpu.append(cpu_clock() - c0)
            results.append(r)
    finally:
        gc.callbacks.remove(watch)
    return times, results, watch.summary(), cpu


def breakdown(messages: list[TestMessage], correct: list[bool]) -> dict:
    """Accuracy by message kind, typo kind, swapped order and stopword-bearing names."""
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for m, ok in zip(messages, correct):
        labels = [f"kind={m.kind}", f"typo={m.typo or 'none'}"]
        if m.kind == "person":
            labels.append(f"swapped={'yes' if m.swapped else 'no'}")
            labels.append(f"stopword_name={'yes' if m.stopword_name else 'no'}")
        for label in labels:
            groups[label][0] += ok
            groups[label][1] += 1
    return {k: {"accuracy": round(v[0] / v[1], 4), "n": v[1]} for k, v in sorted(groups.items())}


def summarize(name, build_runs, grew, messages, times_ns, correct, details, subset,
              gc_summary, paired=None) -> RunResult:
    """Turn raw timings and correctness flags into a RunResult."""
    ms = sorted(t / 1e6 for t in times_ns)
    misses = [{"text": m.text, "intended": m.key, **d}
              for m, ok, d in zip(messages, correct, details) if not ok][:6]
    slow = sorted(range(len(times_ns)), key=lambda i: -times_ns[i])[:5]
    return RunResult(
        gc=gc_summary,
        slowest=[{"text": messages[i].text, "ms": round(times_ns[i] / 1e6, 3)} for i in slow],
        name=name, build_s=statistics.median(build_runs), build_runs_s=build_runs,
        tracemalloc_peak_mib=0.0, rss_growth_mib=round(grew, 1), messages=len(messages),
        subset=subset,
        p50_ms=percentile(ms, 50), p99_ms=percentile(ms, 99), max_ms=ms[-1] if ms else 0.0,
        mean_ms=statistics.fmean(ms) if ms else 0.0,
        accuracy=sum(correct) / len(correct) if correct else 0.0,
        breakdown=breakdown(messages, correct), misses=misses,
        paired_assistant_accuracy=paired, max_rss_mib=round(max_rss_mib(), 1))


def run_assistant(k: Knowledge, messages: list[TestMessage], warmup: list[TestMessage]):
    """Build the Assistant (timed), answer every message (timed), then measure one more
    build under tracemalloc. Returns (result, per-message correctness, index sizes)."""
    assistant, runs, grew = timed_builds(lambda: Assistant(k))
    index = assistant.index
    sizes = {"index_records": len(getattr(index, "records", ())),
             "index_tokens": len(getattr(index, "postings", ())),
             "delete_variants": len(getattr(index, "deletes", ()))}

    def ask(m: TestMessage):
        return assistant.reply(Message(m.text))

    times, replies, gcs, cpu = latencies(ask, messages, warmup)
    correct = [m.key in r.ids for m, r in zip(messages, replies)]
    details = [{"intent": r.intent, "ids": list(r.ids[:4]), "confidence": r.confidence}
               for r in replies]
    result = summarize("assistant", runs, grew, messages, times, correct, details, False, gcs)
    cpu_ms = sorted(t / 1e6 for t in cpu)
    result.cpu_p50_ms, result.cpu_p99_ms = percentile(cpu_ms, 50), percentile(cpu_ms, 99)
    result.cpu_mean_ms = statistics.fmean(cpu_ms)
    del assistant, index, ask
    result.tracemalloc_peak_mib = round(traced_peak(lambda: Assistant(k)), 2)
    return result, correct, sizes


def baseline_aliases(k: Knowledge, keep_joined: bool = False) -> tuple[list[tuple[str, str]], int]:
    """Return the baseline's (alias text, key) pairs and how many derived forms were skipped.

    Every non-description alias of every entry from ``alias_triples`` (cue words are not
    entries). Unless ``keep_joined``, an alias that is only another alias of the same entry
    written without spaces ("WangLihua", which ``alias_triples`` derives for the index's
    typo tolerance) is skipped: it is not an alias a naive matcher would be given.
    """
    pairs: list[tuple[str, str]] = []
    written: dict[str, set[str]] = defaultdict(set)
    skipped = 0
    for key, text, description in alias_triples(k):
        if description or key.startswith("cue:"):
            continue
        if not keep_joined and " " not in text and text in written[key]:
            skipped += 1
            continue
        written[key].add("".join(text.split()))
        pairs.append((text, key))
    return pairs, skipped


class NaiveMatcher:
    """The baseline: one ``rapidfuzz.process.extractOne`` over every non-description alias
    of every entry (see :func:`baseline_aliases`), the matched alias mapped back to its key."""

    def __init__(self, k: Knowledge, processed: bool, keep_joined: bool = False):
        self.processed = processed
        pairs, self.skipped = baseline_aliases(k, keep_joined)
        self.keys = [key for _, key in pairs]
        texts = [text for text, _ in pairs]
        self.choices = [default_process(t) for t in texts] if processed else texts

    def match(self, text: str) -> tuple[str | None, str | None, float]:
        """Return (key, alias, score) of the best alias for ``text``."""
        query = default_process(text) if self.processed else text
        best = rf_process.extractOne(query, self.choices)
        if best is None:
            return None, None, 0.0
        return self.keys[best[2]], best[0], best[1]


def run_baseline(k: Knowledge, processed: bool, messages: list[TestMessage],
                 warmup: list[TestMessage], assistant_correct: list[bool], args) -> RunResult:
    """Measure one baseline variant; on a random subset of ``args.baseline_sample`` messages
    when the whole set would take longer than ``args.baseline_budget`` seconds."""
    budget_s, sample, seed = args.baseline_budget, args.baseline_sample, args.seed
    name = "baseline WRatio+default_process" if processed else "baseline WRatio (defaults)"
    matcher, runs, grew = timed_builds(
        lambda: NaiveMatcher(k, processed, args.baseline_keep_joined))
    probe = messages[:10]
    t0 = time.perf_counter()
    for m in probe:
        matcher.match(m.text)
    per_msg = (time.perf_counter() - t0) / len(probe)
    indexes = list(range(len(messages)))
    subset = per_msg * (len(messages) + len(warmup)) > budget_s and sample < len(messages)
    if subset:
        indexes = sorted(random.Random(seed * 31 + 5).sample(indexes, sample))
        warmup = warmup[:max(5, min(len(warmup), int(budget_s * 0.1 / max(per_msg, 1e-9))))]
    chosen = [messages[i] for i in indexes]
    times, found, gcs, _ = latencies(lambda m: matcher.match(m.text), chosen, warmup)
    correct = [m.key == f[0] for m, f in zip(chosen, found)]
    details = [{"matched": f[0], "alias": f[1], "score": round(f[2], 1)} for f in found]
    paired = None
    if subset:
        paired = sum(assistant_correct[i] for i in indexes) / len(indexes)
    result = summarize(name, runs, grew, chosen, times, correct, details, subset, gcs, paired)
    del matcher
    result.tracemalloc_peak_mib = round(traced_peak(
        lambda: NaiveMatcher(k, processed, args.baseline_keep_joined)), 2)
    result.breakdown["warmup_messages"] = len(warmup)
    return result


def bench_kb(label: str, k: Knowledge, targets: Targets, args, log) -> dict:
    """Run the assistant and both baselines on one knowledge base."""
    stop = stopword_set(k)
    messages = generate_messages(targets, args.messages, args.seed, stop)
    warmup = generate_messages(targets, WARMUP, args.seed + 1000, stop)
    log(f"[{label}] {len(k.people)} people, {len(k.talks)} talks, {len(k.doctors)} doctors; "
        f"{len(messages)} messages")
    t0 = time.perf_counter()
    a_res, a_correct, sizes = run_assistant(k, messages, warmup)
    log(f"[{label}] assistant done in {time.perf_counter() - t0:.1f}s")
    results = [a_res]
    for processed in (False, True):
        t0 = time.perf_counter()
        results.append(run_baseline(k, processed, messages, warmup, a_correct, args))
        log(f"[{label}] {results[-1].name} done in {time.perf_counter() - t0:.1f}s")
    base = NaiveMatcher(k, False, args.baseline_keep_joined)
    counts = Counter(m.kind for m in messages)
    info = {
        "label": label, "people": len(k.people), "talks": len(k.talks),
        "doctors": len(k.doctors), **sizes,
        "baseline_aliases": len(base.choices), "baseline_skipped_joined": base.skipped,
        "messages": len(messages), "person_messages": counts["person"],
        "talk_messages": counts["talk"],
        "typo_messages": sum(m.typo is not None for m in messages),
        "swapped_messages": sum(m.swapped for m in messages),
        "results": [asdict(r) for r in results],
    }
    return info


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def ratios_and_verdict(generated: dict) -> dict:
    """Ratios baseline/assistant and the verdict lines for the generated knowledge base."""
    a, b, bp = generated["results"]
    out = {
        "p50_ratio": b["p50_ms"] / a["p50_ms"], "p99_ratio": b["p99_ms"] / a["p99_ms"],
        "p50_ratio_processed": bp["p50_ms"] / a["p50_ms"],
        "p99_ratio_processed": bp["p99_ms"] / a["p99_ms"],
    }
    acc_a = b["paired_assistant_accuracy"] if b["subset"] else a["accuracy"]
    acc_ap = bp["paired_assistant_accuracy"] if bp["subset"] else a["accuracy"]
    out["checks"] = [
        (f"assistant p99 <= {TARGET_P99_MS:g} ms at {generated['doctors']} doctors",
         a["p99_ms"] <= TARGET_P99_MS, f"{a['p99_ms']:.3f} ms"),
        (f">= {TARGET_SPEEDUP:g}x faster than baseline at p50", out["p50_ratio"] >= TARGET_SPEEDUP,
         f"{out['p50_ratio']:.1f}x"),
        (f">= {TARGET_SPEEDUP:g}x faster than baseline at p99", out["p99_ratio"] >= TARGET_SPEEDUP,
         f"{out['p99_ratio']:.1f}x"),
        ("accuracy >= baseline accuracy", acc_a >= b["accuracy"],
         f"{acc_a:.1%} vs {b['accuracy']:.1%}" + (" (same subset)" if b["subset"] else "")),
        (f"index build <= {TARGET_BUILD_S:g} s", a["build_s"] <= TARGET_BUILD_S,
         f"{a['build_s']:.3f} s"),
    ]
    out["checks_processed"] = [
        (">= 20x faster than baseline+default_process at p50 and p99",
         min(out["p50_ratio_processed"], out["p99_ratio_processed"]) >= TARGET_SPEEDUP,
         f"{out['p50_ratio_processed']:.1f}x / {out['p99_ratio_processed']:.1f}x"),
        ("accuracy >= baseline+default_process accuracy", acc_ap >= bp["accuracy"],
         f"{acc_ap:.1%} vs {bp['accuracy']:.1%}" + (" (same subset)" if bp["subset"] else "")),
    ]
    return out


def print_kb(info: dict) -> None:
    """Print the table and breakdown of one knowledge base."""
    print(f"\n[{info['label']}] {info['people']} people, {info['talks']} talks, "
          f"{info['doctors']} doctors | index: {info['index_records']} alias records, "
          f"{info['index_tokens']} tokens, {info['delete_variants']} delete variants | "
          f"baseline: {info['baseline_aliases']} aliases"
          + (f" ({info['baseline_skipped_joined']} space-less derived forms skipped)"
             if info["baseline_skipped_joined"] else ""))
    print(f"  messages: {info['messages']} ({info['person_messages']} about people, "
          f"{info['talk_messages']} about talks; {info['typo_messages']} with a typo, "
          f"{info['swapped_messages']} with swapped name order)")
    print(f"  {'matcher':32} {'build s':>8} {'tracemalloc':>11} {'+RSS':>7} {'maxRSS':>7} "
          f"{'msgs':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean ms':>8} {'acc':>6}")
    for r in info["results"]:
        msgs = f"{r['messages']}{'*' if r['subset'] else ''}"
        print(f"  {r['name']:32} {r['build_s']:8.4f} {r['tracemalloc_peak_mib']:7.1f} MiB "
              f"{r['rss_growth_mib']:7.1f} {r['max_rss_mib']:7.0f} {msgs:>5} {r['p50_ms']:8.3f} "
              f"{r['p99_ms']:8.3f} {r['max_ms']:8.3f} {r['mean_ms']:8.3f} {r['accuracy']:6.1%}")
    a = info["results"][0]
    for r in info["results"][1:]:
        note = ""
        if r["subset"]:
            note = (f"  * random subset of {r['messages']} messages (whole set over budget); "
                    f"assistant accuracy on the same subset: {r['paired_assistant_accuracy']:.1%}")
        print(f"  {r['name']}: p50 ratio {r['p50_ms'] / a['p50_ms']:.1f}x, "
              f"p99 ratio {r['p99_ms'] / a['p99_ms']:.1f}x{note}")
    print(f"  assistant CPU time per message (thread time, without waiting for a core): "
          f"p50 {a['cpu_p50_ms']:.3f} ms, p99 {a['cpu_p99_ms']:.3f} ms, "
          f"mean {a['cpu_mean_ms']:.3f} ms")
    g = a["gc"]
    print("  assistant timed loop, gc: " + ", ".join(
        f"{gen} {v['n']}x (total {v['total_ms']:.1f} ms, max {v['max_ms']:.1f} ms)"
        for gen, v in g.items()))
    print("  slowest assistant messages: " + "; ".join(
        f"{s['text']!r} {s['ms']:.2f} ms" for s in a["slowest"][:3]))
    print("  accuracy breakdown (assistant | baseline | baseline+default_process):")
    labels = [k for k in a["breakdown"] if not k.startswith("warmup")]
    for label in labels:
        cells = []
        for r in info["results"]:
            g = r["breakdown"].get(label)
            cells.append(f"{g['accuracy']:6.1%} of {g['n']:4d}" if g else f"{'-':>14}")
        print(f"    {label:22} " + " | ".join(cells))
    for r in info["results"]:
        if r["misses"]:
            print(f"  first misses of {r['name']}:")
            for miss in r["misses"][:4]:
                rest = {k: v for k, v in miss.items() if k not in ("text", "intended")}
                print(f"    {miss['text']!r} -> wanted {miss['intended']}; got {rest}")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run both knowledge bases, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doctors", type=int, default=10_000,
                        help="generated people, each with one doctor listing (default 10000)")
    parser.add_argument("--talks", type=int, default=1000, help="generated talks (default 1000)")
    parser.add_argument("--messages", type=int, default=3000,
                        help="messages per knowledge base (default 3000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--knowledge", default=str(ROOT / "knowledge"),
                        help="bundled knowledge folder")
    parser.add_argument("--baseline-budget", type=float, default=40.0,
                        help="seconds one baseline variant may take before it is measured "
                             "on a subset (default 40)")
    parser.add_argument("--baseline-sample", type=int, default=300,
                        help="subset size when over budget (default 300)")
    parser.add_argument("--baseline-keep-joined", action="store_true",
                        help="keep the space-less name forms alias_triples derives "
                             "(\"WangLihua\") in the baseline's alias list")
    args = parser.parse_args(argv)
    if args.talks and not args.doctors:
        parser.error("--talks needs --doctors > 0 (talks are given by generated people)")

    def log(msg: str) -> None:
        print(f"  .. {msg}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    version = code_version()
    load_start = os.getloadavg()[0]
    base = load_knowledge(args.knowledge)
    t0 = time.perf_counter()
    big, big_targets = generated_knowledge(base, args.doctors, args.talks, args.seed)
    gen_s = time.perf_counter() - t0
    log(f"generated knowledge in {gen_s:.1f}s")
    kbs = [bench_kb("a: bundled knowledge", base, bundled_targets(base, random.Random(args.seed)),
                    args, log),
           bench_kb(f"b: bundled + {args.doctors} doctors + {args.talks} talks", big,
                    big_targets, args, log)]
    verdict = ratios_and_verdict(kbs[1])
    elapsed = time.perf_counter() - started
    env = {"python": platform.python_version(), "rapidfuzz": rapidfuzz.__version__,
           "cpus": os.cpu_count(), "gc_enabled": gc.isenabled(), **version,
           "loadavg_start": round(load_start, 2), "loadavg_end": round(os.getloadavg()[0], 2),
           "generate_knowledge_s": round(gen_s, 2), "max_rss_mib": round(max_rss_mib(), 1),
           "elapsed_s": round(elapsed, 1)}
    if args.json:
        json.dump({"args": vars(args), "env": env, "knowledge_bases": kbs, "verdict": verdict},
                  sys.stdout, indent=2, default=str)
        print()
        return 0
    print(f"Matcher benchmark: seed={args.seed} doctors={args.doctors} talks={args.talks} "
          f"messages={args.messages} | python {env['python']}, rapidfuzz {env['rapidfuzz']}, "
          f"{env['cpus']} CPUs, gc on | code {env['commit']} (bot+knowledge sha256 "
          f"{env['tree_sha256']}) | load average {env['loadavg_start']:.2f} at start, "
          f"{env['loadavg_end']:.2f} at end")
    print(f"generated knowledge built (pydantic models) in {gen_s:.2f} s")
    print("columns: build = median of 3 builds; tracemalloc = peak MiB of one extra build; "
          "+RSS = MiB resident the first build added; maxRSS = process max RSS MiB so far; "
          "msgs = messages timed (* = random subset); p50/p99/max/mean = ms per message; "
          "acc = right entry answered")
    for info in kbs:
        print_kb(info)
    print(f"\nverdict on [{kbs[1]['label']}] (baseline = WRatio with defaults):")
    for text, ok, value in verdict["checks"]:
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}: {value}")
    print("  against the baseline with default_process (informative):")
    for text, ok, value in verdict["checks_processed"]:
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}: {value}")
    print(f"\nprocess max RSS {env['max_rss_mib']:.0f} MiB; total {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
