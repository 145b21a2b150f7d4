"""The text spec: synonyms, mixtures, fail shares, sizes, and clear errors for anything else."""

import numpy as np
import pytest

from fabsight.errors import InputError
from fabsight.wafer.synth import CLASSES, MIXTURES, class_name, parse_spec


@pytest.mark.parametrize("text, expected", [
    ("ring", ("Edge-Ring",)), ("edge ring", ("Edge-Ring",)), ("Edge-Ring", ("Edge-Ring",)),
    ("bullseye", ("Center",)), ("center", ("Center",)), ("centre", ("Center",)),
    ("donut", ("Donut",)), ("doughnut", ("Donut",)),
    ("scratch", ("Scratch",)), ("scratches", ("Scratch",)), ("a line", ("Scratch",)),
    ("edge loc", ("Edge-Loc",)), ("edge cluster", ("Edge-Loc",)), ("Edge-Loc", ("Edge-Loc",)),
    ("local", ("Loc",)), ("loc", ("Loc",)), ("cluster", ("Loc",)),
    ("near full", ("Near-full",)), ("Near-full", ("Near-full",)), ("almost all failing", ("Near-full",)),
    ("random", ("Random",)), ("scattered", ("Random",)),
    ("none", ("none",)), ("clean", ("none",)), ("no pattern", ("none",)),
])
def test_synonyms_map_to_the_wm811k_class(text, expected):
    spec = parse_spec(text)
    assert spec.patterns == expected and not spec.mixed and spec.extra_any == 0


@pytest.mark.parametrize("text", [
    "edge ring with a scratch", "edge ring and scratch", "Edge-Ring+Scratch", "scratch, ring", "ring + scratches",
])
def test_with_and_plus_comma_make_a_mixture(text):
    assert parse_spec(text).patterns == ("Edge-Ring", "Scratch")  # canonical order, whatever the wording


def test_three_pattern_mixture():
    assert parse_spec("donut + scratch + loc").patterns == ("Donut", "Loc", "Scratch")


@pytest.mark.parametrize("text, fail", [
    ("edge ring with a scratch, 12% fail", 0.12), ("scratch, yield 88%", 0.12), ("88% yield donut", 0.12),
    ("center, fail rate 5%", 0.05), ("loc 7.5 % failing", 0.075), ("donut, 30 percent fails", 0.30),
    ("ring, 12% of dies failing", 0.12),
])
def test_fail_share_and_yield(text, fail):
    assert parse_spec(text).fail == pytest.approx(fail)


def test_fail_word_in_a_pattern_name_is_not_eaten_by_the_percentage():
    spec = parse_spec("almost all failing, 90% fail")
    assert spec.patterns == ("Near-full",) and spec.fail == pytest.approx(0.9)


@pytest.mark.parametrize("text, size", [
    ("donut, 40 dies across", (None, 40)), ("ring 40 across", (None, 40)), ("scratch 30x50 dies", (30, 50)),
    ("scratch, 30 by 50", (30, 50)), ("small wafer with a ring", "small"), ("large center", "large"),
])
def test_sizes(text, size):
    assert parse_spec(text).size == size


def test_any_and_all_draw_a_random_class_and_mixed_a_mixture():
    rng = np.random.default_rng(0)
    for text in ("any", "all", "", None):
        spec = parse_spec(text)
        assert not spec.patterns and not spec.mixed
        drawn = {spec.choose(rng) for _ in range(300)}
        assert drawn == {(name,) for name in CLASSES}  # every class turns up
    mixed = parse_spec("mixed")
    combos = {mixed.choose(rng) for _ in range(400)}
    assert combos <= set(MIXTURES) and all(2 <= len(c) <= 4 for c in combos) and len(combos) > 20


def test_mixed_with_a_fixed_pattern_always_contains_it():
    spec = parse_spec("scratch, mixed")
    rng = np.random.default_rng(1)
    for _ in range(50):
        chosen = spec.choose(rng)
        assert "Scratch" in chosen and len(chosen) >= 2


def test_pattern_with_any_adds_one_random_compatible_pattern():
    spec = parse_spec("center with any")
    rng = np.random.default_rng(2)
    for _ in range(50):
        chosen = spec.choose(rng)
        assert "Center" in chosen and len(chosen) == 2 and "Donut" not in chosen  # Center and Donut exclude


def test_unknown_word_lists_the_valid_patterns():
    with pytest.raises(InputError) as info:
        parse_spec("spiral with a scratch")
    text = str(info.value)
    assert "'spiral'" in text
    for name in CLASSES:
        assert name in text


def test_typo_gets_a_suggestion():
    with pytest.raises(InputError, match="did you mean 'scratch'"):
        parse_spec("scrach")


def test_part_of_a_phrase_names_the_phrase_not_itself():
    with pytest.raises(InputError, match="'mostly' is understood only within 'mostly failing'"):
        parse_spec("mostly scratch")


def test_a_place_says_specs_cannot_place_patterns():
    with pytest.raises(InputError, match="cannot place a pattern") as info:
        parse_spec("loc cluster near the edge")
    assert "did you mean 'near'" not in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("edge", "ambiguous"), ("none with a scratch", "cannot be combined"), ("12% donut", "say what"),
    ("donut 12", "a number must be"), ("ring, 120% fail", "between 0 and 100"),
    ("ring, 12% fail, yield 70%", "two different"), ("near full, mixed", "no mixed type"),
    ("ring 3 dies across", "dies across"), ("small ring 40 dies across", "size once"),
])
def test_clear_errors(text, message):
    with pytest.raises(InputError, match=message):
        parse_spec(text)


def test_class_name_accepts_names_and_synonyms():
    assert class_name("edge-ring") == "Edge-Ring" and class_name("doughnut") == "Donut"
    assert class_name("NONE") == "none"
    with pytest.raises(InputError, match="valid patterns"):
        class_name("swirl")


def test_mixtures_follow_mixedwm38():
    assert len(MIXTURES) == 29  # 13 with two patterns, 12 with three, 4 with four
    assert sum(len(m) == 2 for m in MIXTURES) == 13 and sum(len(m) == 4 for m in MIXTURES) == 4
    assert not any({"Center", "Donut"} <= set(m) or {"Edge-Loc", "Edge-Ring"} <= set(m) for m in MIXTURES)
