"""The text spec: "edge ring with a scratch, 12% fail" -> which patterns, what fail share, what size.

Words engineers use are mapped to the nine WM-811K classes (one table,
`SYNONYMS`); "with", "and", "+", "," join patterns into a mixture; "any" /
"all" draws a random class per wafer (the default) and "mixed" a random
MixedWM38-style mixture of two to four. A fail share is "12% fail" or
"yield 88%"; a size is "40 dies across", "40x50 dies" (rows x cols) or a
size word ("small wafer"). Any other word is an error that lists what is
understood, so a typo never silently becomes a different pattern.
"""

from __future__ import annotations

import difflib
import json
import re
import zlib
from dataclasses import dataclass, field

import numpy as np

from fabsight.errors import InputError
from fabsight.knowledge.patterns import PATTERN_NAMES, patterns
from fabsight.wafer.synth.shapes import MAX_DIES_ACROSS, MIN_DIES_ACROSS, SIZE_WORDS

CLASSES = PATTERN_NAMES
MIXABLE = ("Center", "Donut", "Edge-Loc", "Edge-Ring", "Loc", "Scratch")
EXCLUSIVE = (frozenset({"Center", "Donut"}), frozenset({"Edge-Loc", "Edge-Ring"}))  # at most one of each pair


def _mixtures() -> tuple[tuple[str, ...], ...]:
    """The 29 mixed types of MixedWM38: 2 to 4 of MIXABLE, at most one of each EXCLUSIVE pair."""
    from itertools import combinations

    out = []
    for k in (2, 3, 4):
        for combo in combinations(MIXABLE, k):
            if all(len(pair & set(combo)) <= 1 for pair in EXCLUSIVE):
                out.append(combo)
    return tuple(out)


MIXTURES = _mixtures()

# Words for each class come from the one taxonomy (knowledge/patterns.json), shared with the models' prompts.
SYNONYMS: dict[str, str] = {word: p.name for p in patterns() for word in (p.name.lower(), *p.synonyms)}
ANY_WORDS = ("any", "all", "anything", "any pattern")
MIXED_WORDS = ("mixed", "mix", "mixture", "mixtures", "combination", "combined", "multiple")
FILLERS = frozenset({
    "a", "an", "the", "with", "and", "plus", "some", "wafer", "wafers", "map", "maps", "pattern", "patterns", "of",
    "on", "at", "in", "one", "also", "type", "defect", "defects", "die", "dies", "sample", "samples", "having", "has",
    "showing", "about", "around", "roughly", "approximately", "approx",
})
PLACE_WORDS = frozenset({"near", "upper", "lower", "left", "right", "top", "bottom", "corner", "side", "north",
                         "south", "east", "west", "off", "between", "inside", "outside", "close", "toward", "towards"})
AMBIGUOUS = {"edge": "'edge ring' (whole rim) or 'edge loc' (one place on the rim)"}
FAIL_WORDS = ("fail", "fails", "failing", "failed", "failure", "failures", "fallout", "loss", "bad", "defective")
YIELD_WORDS = ("yield", "yields", "good", "pass", "passing")


@dataclass(frozen=True)
class Spec:
    """A parsed spec. `choose(rng)` draws the pattern names of one wafer."""

    text: str = "any"
    patterns: tuple[str, ...] = ()  # fixed WM-811K class names, canonical order
    extra_any: int = 0  # further random patterns ("scratch and any")
    mixed: bool = False  # a random mixture of two to four
    fail: float | None = None  # target fail share 0..1, None for the natural background
    size: tuple[int | None, int | None] | str | None = None  # (rows, cols), a SIZE_WORDS key, or None
    notes: tuple[str, ...] = field(default=())

    def choose(self, rng: np.random.Generator) -> tuple[str, ...]:
        if self.mixed:
            fitting = [m for m in MIXTURES if set(self.patterns) <= set(m) and len(m) > len(self.patterns)]
            return canonical(fitting[int(rng.integers(len(fitting)))])
        if not self.patterns and self.extra_any <= 1:
            return (CLASSES[int(rng.integers(len(CLASSES)))],)
        chosen = list(self.patterns)
        for _ in range(self.extra_any):
            options = [p for p in MIXABLE if compatible(chosen, p)]
            chosen.append(options[int(rng.integers(len(options)))])
        return canonical(chosen)

    def key(self) -> int:
        """A stable number for what the spec means (not how it is worded): "ring" and "edge ring" share it."""
        meaning = [list(self.patterns), self.extra_any, self.mixed, self.fail,
                   list(self.size) if isinstance(self.size, tuple) else self.size]
        return zlib.crc32(json.dumps(meaning).encode())

    def describe(self) -> dict:
        return {"text": self.text, "patterns": list(self.patterns), "extra_any": self.extra_any,
                "mixed": self.mixed, "fail": self.fail,
                "size": list(self.size) if isinstance(self.size, tuple) else self.size}


def canonical(names) -> tuple[str, ...]:
    """Class names in the order of CLASSES, without repeats."""
    return tuple(sorted(set(names), key=CLASSES.index))


def compatible(chosen, name: str) -> bool:
    if name in chosen:
        return False
    return all(not (name in pair and pair & set(chosen)) for pair in EXCLUSIVE)


def class_name(word: str) -> str:
    """A class name from its canonical spelling or any synonym ("edge ring" -> "Edge-Ring")."""
    key = _normalise(word)
    for name in CLASSES:
        if key == _normalise(name):
            return name
    if key in SYNONYMS:
        return SYNONYMS[key]
    raise InputError(f"unknown pattern {word!r}; {valid_patterns_text()}")


EXAMPLES = {"Center": "center, bullseye", "Donut": "donut, doughnut", "Edge-Loc": "edge loc, edge cluster",
            "Edge-Ring": "edge ring, ring", "Loc": "loc, local, cluster", "Near-full": "near full, almost all failing",
            "Random": "random, scattered", "Scratch": "scratch, line", "none": "none, clean, no pattern"}


def valid_patterns_text() -> str:
    listed = "; ".join(f"{name} ({EXAMPLES[name]})" for name in CLASSES)
    return f"valid patterns: {listed}; or 'any' (a random class) or 'mixed' (a random mixture)"


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[-_/]", " ", text.lower())).strip()


# --- parsing ------------------------------------------------------------------------
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z']+|[%,*\u00d7]")
PERCENT_SIGNS = ("%", "percent", "pct")
CONNECTIVES = ("rate", "share", "of", "is", "at", "dies", "die", "the")  # may sit between a number and its keyword
SIZE_BY = ("x", "by", "*", "\u00d7")
SIZE_ACROSS = ("across", "wide", "diameter")


def _is_number(token: str) -> bool:
    return bool(re.fullmatch(r"\d+(?:\.\d+)?", token))


def _keyword(tokens: list[str], start: int, step: int) -> tuple[str, int] | None:
    """('fail' or 'yield', index) of the keyword reached from `start` walking by `step` over connectives."""
    i = start
    while 0 <= i < len(tokens) and abs(i - start) <= 3:
        if tokens[i] in FAIL_WORDS:
            return "fail", i
        if tokens[i] in YIELD_WORDS:
            return "yield", i
        if tokens[i] not in CONNECTIVES:
            return None
        i += step
    return None


def _take_percentages(tokens: list[str], original: str) -> tuple[list[str], float | None]:
    fail, used = None, set()
    for i in range(len(tokens) - 1):
        if not (_is_number(tokens[i]) and tokens[i + 1] in PERCENT_SIGNS):
            continue
        found = [k for k in (_keyword(tokens, i + 2, 1), _keyword(tokens, i - 1, -1)) if k]
        if not found:
            raise InputError(f"in {original!r}: say what {tokens[i]}% is, e.g. '12% fail' or 'yield 88%'")
        kind, at = min(found, key=lambda k: abs(k[1] - i))
        value = float(tokens[i])
        if value > 100:
            raise InputError(f"in {original!r}: a percentage must be between 0 and 100, not {value:g}")
        share = value / 100 if kind == "fail" else 1 - value / 100
        if fail is not None and abs(fail - share) > 1e-9:
            raise InputError(f"in {original!r}: two different fail shares ({fail:.0%} and {share:.0%})")
        fail = share
        used.update(range(min(i, at), max(i + 1, at) + 1))
    return [t for j, t in enumerate(tokens) if j not in used], fail


def _check_dies(value: str, original: str) -> int:
    if not _is_number(value) or "." in value or not MIN_DIES_ACROSS <= int(value) <= MAX_DIES_ACROSS:
        raise InputError(f"in {original!r}: a wafer can be {MIN_DIES_ACROSS} to {MAX_DIES_ACROSS} dies across, "
                         f"not {value}")
    return int(value)


def _take_size(tokens: list[str], original: str) -> tuple[list[str], tuple[int | None, int | None] | str | None]:
    found: list[tuple[int, int, tuple[int | None, int | None] | str]] = []  # (start, stop, size)
    for i, token in enumerate(tokens):
        if _is_number(token) and i + 2 < len(tokens) and tokens[i + 1] in SIZE_BY and _is_number(tokens[i + 2]):
            stop = i + 3 + (i + 3 < len(tokens) and tokens[i + 3] in ("dies", "die"))
            found.append((i, stop, (_check_dies(token, original), _check_dies(tokens[i + 2], original))))
        elif _is_number(token) and (i == 0 or tokens[i - 1] not in SIZE_BY):
            j = i + 1 + (i + 1 < len(tokens) and tokens[i + 1] in ("dies", "die"))
            if j < len(tokens) and tokens[j] in SIZE_ACROSS:
                found.append((i, j + 1, (None, _check_dies(token, original))))
        elif token in SIZE_WORDS:
            found.append((i, i + 1, token))
    if len(found) > 1:
        raise InputError(f"in {original!r}: give the wafer size once")
    if not found:
        return tokens, None
    start, stop, size = found[0]
    return tokens[:start] + tokens[stop:], size


def _phrases() -> list[tuple[list[str], str]]:
    table = [(word.split(), name) for word, name in SYNONYMS.items()]
    table += [(word.split(), "any") for word in ANY_WORDS] + [(word.split(), "mixed") for word in MIXED_WORDS]
    return sorted(table, key=lambda item: -len(item[0]))  # longest phrase first


_PHRASES = _phrases()


def _unknown(word: str, original: str) -> InputError:
    if _is_number(word):
        return InputError(f"in {original!r}: a number must be a fail share ('12% fail', 'yield 88%') "
                          f"or a size ('40 dies across', '40x50 dies')")
    within = [" ".join(words) for words, _ in _PHRASES if len(words) > 1 and word in words]
    if word in PLACE_WORDS:
        hint = (" (a spec cannot place a pattern: the generator draws where it sits; 'edge loc' is a cluster on "
                "the rim, 'loc' one inside it)")
    elif within:  # "mostly" alone: suggesting "mostly" back would be no help; name the phrases that hold it
        hint = f" ({word!r} is understood only within {', '.join(repr(p) for p in sorted(within)[:3])})"
    else:
        vocabulary = sorted({w for words, _ in _PHRASES for w in words} | set(SIZE_WORDS))
        close = difflib.get_close_matches(word, vocabulary, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    return InputError(f"unknown word {word!r} in {original!r}{hint}; {valid_patterns_text()}")


def parse_spec(text: str | None) -> Spec:
    """Parse a spec such as "edge ring with a scratch, 12% fail" (see the module help)."""
    original = "any" if text is None or not str(text).strip() else str(text).strip()
    work = _normalise(original.replace("+", " , ").replace("&", " , "))
    work = re.sub(r"(\d),(\d)", r"\1.\2", work)  # "12,5%" written with a decimal comma
    tokens = _TOKEN.findall(work)
    tokens, fail = _take_percentages(tokens, original)
    tokens, size = _take_size(tokens, original)
    patterns: list[str] = []
    extra_any, mixed, i = 0, False, 0
    while i < len(tokens):
        for phrase, name in _PHRASES:
            if tokens[i:i + len(phrase)] == phrase:
                if name == "any":
                    extra_any += 1
                elif name == "mixed":
                    mixed = True
                else:
                    patterns.append(name)
                i += len(phrase)
                break
        else:
            word = tokens[i]
            if word in AMBIGUOUS:
                raise InputError(f"{word!r} in {original!r} is ambiguous: say {AMBIGUOUS[word]}")
            if word not in FILLERS and word != ",":
                raise _unknown(word, original)
            i += 1
    return _build(original, canonical(patterns), extra_any, mixed, fail, size)


def _room(fixed: tuple[str, ...]) -> int:
    """How many more mixable patterns fit beside `fixed`."""
    free = [p for p in MIXABLE if compatible(fixed, p)]
    paired = sum(1 for pair in EXCLUSIVE if pair & set(free))
    return len([p for p in free if not any(p in pair for pair in EXCLUSIVE)]) + paired


def _build(original: str, fixed: tuple[str, ...], extra_any: int, mixed: bool, fail: float | None, size) -> Spec:
    joined = " + ".join(fixed)
    if "none" in fixed and (len(fixed) > 1 or extra_any or mixed):
        raise InputError(f"in {original!r}: 'none' (no pattern) cannot be combined with other patterns")
    if mixed and extra_any:
        raise InputError(f"in {original!r}: use 'mixed' or 'any', not both")
    if mixed and not any(set(fixed) <= set(m) and len(m) > len(fixed) for m in MIXTURES):
        raise InputError(f"in {original!r}: no mixed type (as in MixedWM38) holds {joined or 'that'} and more; "
                         f"mixtures combine {', '.join(MIXABLE)}, at most one of Center/Donut and one of "
                         f"Edge-Loc/Edge-Ring")
    if not fixed and extra_any <= 1:
        extra_any = 0  # "any" alone: one random class per wafer
    if extra_any > _room(fixed):
        raise InputError(f"in {original!r}: no room for {extra_any} more random pattern(s) beside {joined}")
    return Spec(text=original, patterns=fixed, extra_any=extra_any, mixed=mixed, fail=fail, size=size)
