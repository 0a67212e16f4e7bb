"""The seed's coreference test as a deterministic English->French grammar.

"The animal didn't cross the street because it was too tired" must become
"... parce qu'il était trop fatigué" and "... too wide" must become
"... parce qu'elle était trop large": "it" refers to the animal or to the
street, and only the adjective says which. Every sentence here has that
shape: an animal subject (`SUBJECTS`), a verb (`VERBS`), an obstacle object
(`OBJECTS`) and an adjective that can describe only animals
(`SUBJECT_ADJECTIVES`: tired, afraid, weak, slow, lazy, hungry) or only the
object (`OBJECT_ADJECTIVES`: wide, long, high, deep, crowded, narrow, steep;
each object lists the ones that fit it). The French pronoun (qu'il /
qu'elle) and the adjective agree with the gender of the referent's French
noun ("la vache ... parce qu'elle était trop fatiguée", "le mur ... parce
qu'il était trop haut").

Subjects are animals, not people: English would say "he"/"she" for a person
and give the referent away.

Sentence frames (`FRAMES`), e.g. for dog / jump over / wall / high:
    The dog didn't jump over the wall because it was too high
    Le chien n'a pas sauté par-dessus le mur parce qu'il était trop haut
and "couldn't" (n'a pas pu), "refused to" (a refusé de), "never" (n'a
jamais), "doesn't want to ... it is" (ne veut pas ... est). Sentences have no
final punctuation, like the seed's.

Splits. The (referent noun, adjective) combinations of
`HELDOUT_COMBINATIONS` occur only in `test_heldout`; `train`, `validation`
and `test` are disjoint sets of sentences built from all other combinations.
Each split is half subject-referent and half object-referent. Every
adjective form (masculine and feminine) still occurs in train, so a model can
produce the held-out agreements. The seed's two sentences (`SEED_PAIRS`) are
deliberately placed in `train`: the demo prints their translations, and they
must be in the corpus the model learns from.

Positions are indices into `text.split()` (whitespace words). In French the
pronoun is elided into one word, "qu'il" or "qu'elle".
"""

import dataclasses
import random

# (English noun, French noun with its article, gender "m" or "f").
SUBJECTS = (
    ("animal", "l'animal", "m"),
    ("dog", "le chien", "m"),
    ("horse", "le cheval", "m"),
    ("cat", "le chat", "m"),
    ("sheep", "le mouton", "m"),
    ("fox", "le renard", "m"),
    ("donkey", "l'âne", "m"),
    ("rabbit", "le lapin", "m"),
    ("bear", "l'ours", "m"),
    ("cow", "la vache", "f"),
    ("goat", "la chèvre", "f"),
    ("hen", "la poule", "f"),
    ("turtle", "la tortue", "f"),
    ("mouse", "la souris", "f"),
    ("mare", "la jument", "f"),
    ("giraffe", "la girafe", "f"),
)

# (English noun, French noun with its article, gender, adjectives that fit).
OBJECTS = (
    ("street", "la rue", "f", ("wide", "long", "crowded", "narrow")),
    ("road", "la route", "f", ("wide", "long", "crowded", "narrow", "steep")),
    ("river", "la rivière", "f", ("wide", "long", "deep")),
    ("box", "la boîte", "f", ("high", "wide")),
    ("fence", "la clôture", "f", ("high", "long")),
    ("hill", "la colline", "f", ("high", "steep")),
    ("hedge", "la haie", "f", ("high", "long", "wide")),
    ("avenue", "l'avenue", "f", ("wide", "long", "crowded")),
    ("square", "la place", "f", ("crowded", "wide")),
    ("bridge", "le pont", "m", ("long", "high", "crowded", "narrow")),
    ("wall", "le mur", "m", ("high", "long")),
    ("ditch", "le fossé", "m", ("wide", "deep")),
    ("field", "le champ", "m", ("wide", "long")),
    ("stream", "le ruisseau", "m", ("wide", "deep")),
    ("canal", "le canal", "m", ("wide", "long", "deep")),
    ("lake", "le lac", "m", ("wide", "deep")),
    ("path", "le chemin", "m", ("long", "narrow", "steep", "crowded")),
)

# English adjective -> (French masculine, French feminine).
SUBJECT_ADJECTIVES = {
    "tired": ("fatigué", "fatiguée"),
    "afraid": ("effrayé", "effrayée"),
    "weak": ("faible", "faible"),
    "slow": ("lent", "lente"),
    "lazy": ("paresseux", "paresseuse"),
    "hungry": ("affamé", "affamée"),
}
OBJECT_ADJECTIVES = {
    "wide": ("large", "large"),
    "long": ("long", "longue"),
    "high": ("haut", "haute"),
    "deep": ("profond", "profonde"),
    "crowded": ("encombré", "encombrée"),
    "narrow": ("étroit", "étroite"),
    "steep": ("raide", "raide"),
}

# (English infinitive, English past, French infinitive, French past
# participle, English objects it takes).
VERBS = (
    ("cross", "crossed", "traverser", "traversé",
     ("street", "road", "river", "bridge", "ditch", "field", "stream",
      "canal", "lake", "avenue", "square")),
    ("jump over", "jumped over", "sauter par-dessus", "sauté par-dessus",
     ("wall", "fence", "box", "ditch", "stream", "hedge")),
    ("climb", "climbed", "escalader", "escaladé",
     ("wall", "fence", "hill", "box")),
    ("walk along", "walked along", "longer", "longé",
     ("street", "road", "river", "wall", "canal", "path", "avenue", "fence",
      "hedge")),
    ("go around", "went around", "contourner", "contourné",
     ("lake", "hill", "field", "wall", "box", "hedge", "square")),
)

# (English frame, French frame). {s}/{S}: French subject (capitalised),
# {o}: French object, {v}/{past}: English verb, {inf}/{pp}: French verb,
# {pro}: il/elle, {adj}: English/French adjective.
FRAMES = (
    ("The {s} didn't {v} the {o} because it was too {adj}",
     "{S} n'a pas {pp} {o} parce qu'{pro} était trop {adj}"),
    ("The {s} couldn't {v} the {o} because it was too {adj}",
     "{S} n'a pas pu {inf} {o} parce qu'{pro} était trop {adj}"),
    ("The {s} refused to {v} the {o} because it was too {adj}",
     "{S} a refusé {de} {o} parce qu'{pro} était trop {adj}"),
    ("The {s} never {past} the {o} because it was too {adj}",
     "{S} n'a jamais {pp} {o} parce qu'{pro} était trop {adj}"),
    ("The {s} doesn't want to {v} the {o} because it is too {adj}",
     "{S} ne veut pas {inf} {o} parce qu'{pro} est trop {adj}"),
)

# (referent noun, adjective) pairs kept out of train/validation/test.
HELDOUT_COMBINATIONS = frozenset({
    ("cow", "slow"), ("horse", "afraid"), ("goat", "tired"),
    ("fox", "hungry"), ("mouse", "lazy"), ("bear", "weak"),
    ("river", "long"), ("bridge", "narrow"), ("hedge", "high"),
    ("road", "crowded"), ("wall", "long"), ("lake", "wide"),
    ("hill", "steep"), ("canal", "deep"),
})

SEED_PAIRS = (
    ("The animal didn't cross the street because it was too tired",
     "L'animal n'a pas traversé la rue parce qu'il était trop fatigué"),
    ("The animal didn't cross the street because it was too wide",
     "L'animal n'a pas traversé la rue parce qu'elle était trop large"),
)

SPLITS = ("train", "validation", "test", "test_heldout")
DEFAULT_SIZES = {"train": 6000, "validation": 500, "test": 500,
                 "test_heldout": 500}


@dataclasses.dataclass(frozen=True)
class CorefExample:
    """One English->French pair and where its coreference lies.

    Attributes:
        en, fr: the sentences.
        referent: the English noun "it" refers to, e.g. "animal".
        referent_role: "subject" or "object".
        referent_position: index of `referent` in `en.split()`.
        pronoun_position: index of "it" in `en.split()`.
        fr_pronoun_position: index of "qu'il"/"qu'elle" in `fr.split()`.
        gender: "masculine" or "feminine", of the referent's French noun.
        adjective: the English adjective; fr_adjective: its agreed French
            form (the last word of `fr`).
    """

    en: str
    fr: str
    referent: str
    referent_role: str
    referent_position: int
    pronoun_position: int
    fr_pronoun_position: int
    gender: str
    adjective: str
    fr_adjective: str

    def as_dict(self):
        return dataclasses.asdict(self)


def _elide(word, following):
    """French elision: "de" + "escalader" -> "d'escalader"."""
    if following[0] in "aeéèêiîoôuâh":
        return word[:-1] + "'" + following
    return word + " " + following


def _capitalise(text):
    return text[0].upper() + text[1:]


def _make_example(frame, subject, verb, obj, adjective):
    en_frame, fr_frame = frame
    s_en, s_fr, s_gender = subject
    v_en, v_past, v_inf, v_pp = verb[:4]
    o_en, o_fr, o_gender = obj[:3]
    if adjective in SUBJECT_ADJECTIVES:
        role, referent, gender = "subject", s_en, s_gender
        forms = SUBJECT_ADJECTIVES[adjective]
    else:
        role, referent, gender = "object", o_en, o_gender
        forms = OBJECT_ADJECTIVES[adjective]
    fr_adjective = forms[0] if gender == "m" else forms[1]
    en = en_frame.format(s=s_en, v=v_en, past=v_past, o=o_en, adj=adjective)
    fr = fr_frame.format(
        S=_capitalise(s_fr), o=o_fr, inf=v_inf, pp=v_pp,
        de=_elide("de", v_inf), pro="il" if gender == "m" else "elle",
        adj=fr_adjective,
    )
    en_words, fr_words = en.split(), fr.split()
    pronoun = "qu'il" if gender == "m" else "qu'elle"
    return CorefExample(
        en=en,
        fr=fr,
        referent=referent,
        referent_role=role,
        # The subject is word 1; the object follows the second "the".
        referent_position=(1 if role == "subject"
                           else len(en_words) - en_words[::-1].index("the")),
        pronoun_position=en_words.index("it"),
        fr_pronoun_position=fr_words.index(pronoun),
        gender="masculine" if gender == "m" else "feminine",
        adjective=adjective,
        fr_adjective=fr_adjective,
    )


def all_examples():
    """Every sentence the grammar makes, in a fixed order (about 25,500)."""
    objects = {obj[0]: obj for obj in OBJECTS}
    examples = []
    for frame in FRAMES:
        for subject in SUBJECTS:
            for verb in VERBS:
                for o_en in verb[4]:
                    obj = objects[o_en]
                    for adjective in tuple(SUBJECT_ADJECTIVES) + obj[3]:
                        examples.append(
                            _make_example(frame, subject, verb, obj, adjective)
                        )
    return examples


def _check_sizes(sizes):
    unknown = set(sizes) - set(SPLITS)
    if unknown:
        raise ValueError(
            f"`sizes` keys must be among {list(SPLITS)}. "
            f"Received: sizes={sizes}"
        )
    for split, size in sizes.items():
        if not isinstance(size, int) or size < 0:
            raise ValueError(
                "`sizes` values must be non-negative integers. "
                f"Received: sizes[{split!r}]={size!r}"
            )


def generate_coref_pairs(seed=0, sizes=None):
    """Draws the splits of the corpus, deterministically for a `seed`.

    Args:
        seed: the seed of the `random.Random` that orders the sentences.
        sizes: dict split name -> number of pairs; missing splits take
            `DEFAULT_SIZES` (train 6000, validation 500, test 500,
            test_heldout 500). Train always holds the two `SEED_PAIRS`.

    Returns:
        dict split name -> list of `CorefExample`.

    Example:
    >>> splits = generate_coref_pairs(seed=0, sizes={"train": 100})
    >>> splits["train"][0].fr
    "L'animal n'a pas traversé la rue parce qu'il était trop fatigué"
    """
    sizes = dict(DEFAULT_SIZES, **(sizes or {}))
    _check_sizes(sizes)
    rng = random.Random(seed)
    seed_english = {en for en, _ in SEED_PAIRS}
    pools = {}  # (heldout, role) -> list of examples, shuffled.
    seeds = []
    for example in all_examples():
        if example.en in seed_english:
            seeds.append(example)
            continue
        heldout = (example.referent, example.adjective) in HELDOUT_COMBINATIONS
        pools.setdefault((heldout, example.referent_role), []).append(example)
    for key in sorted(pools):
        rng.shuffle(pools[key])

    def take(heldout, count):
        """Half subject-referent, half object-referent, interleaved."""
        halves = []
        for i, role in enumerate(("subject", "object")):
            pool = pools[(heldout, role)]
            n = count // 2 + (count % 2 if i == 0 else 0)
            if n > len(pool):
                raise ValueError(
                    f"`sizes` asks for more {role}-referent sentences than the "
                    f"grammar has ({len(pool)} left). Received: sizes={sizes}"
                )
            halves.append(pool[:n])
            del pool[:n]
        mixed = [ex for pair in zip(*halves) for ex in pair]
        return mixed + halves[0][len(halves[1]):]

    train_size = sizes["train"]
    if train_size < len(seeds):
        raise ValueError(
            f"`sizes['train']` must be at least {len(seeds)} to hold the seed "
            f"sentences. Received: sizes={sizes}"
        )
    return {
        "train": seeds + take(False, train_size - len(seeds)),
        "validation": take(False, sizes["validation"]),
        "test": take(False, sizes["test"]),
        "test_heldout": take(True, sizes["test_heldout"]),
    }


def french_pronoun(text):
    """The pronoun of a (possibly model-made) French sentence.

    Returns "il" or "elle" for the last "qu'il"/"qu'elle" word of `text`, or
    None when there is none. For scoring translations.
    """
    for word in reversed(text.split()):
        if word in ("qu'il", "qu’il"):
            return "il"
        if word in ("qu'elle", "qu’elle"):
            return "elle"
    return None
