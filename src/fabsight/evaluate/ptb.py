"""PTB tokenisation of captions, as the COCO caption evaluation does it.

`ptb_tokenize` runs the same Stanford CoreNLP 3.4.1 jar, with the same
flags (`-preserveLines -lowerCase`) and the same punctuation filter, as
`pycocoevalcap.tokenizer.ptbtokenizer.PTBTokenizer`; the tests check that
the output is identical. It is our own small runner rather than a call of
that class for three reasons:

- the class writes its temporary file inside the installed package, which
  fails where site-packages is read-only;
- the class splits Java's output on newlines and zips it with the ids, so a
  caption holding another line break Java honours (\\r, \\f, \\v, U+2028,
  U+2029) shifts every later caption onto the wrong image without a word;
  we turn every line break into a space first and check the line count;
- a Java failure there gives a confusing error far away (or silently fewer
  captions); here it is one clear message.

`python_tokenize` is a pure-Python approximation for machines without
Java. It is never chosen silently (see `CaptionOptions.tokenizer`), and it
is not the standard: it agrees with the Java tokenizer on the common cases
(the tests measure it), not on every oddity of the Stanford lexer.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from fabsight.errors import FabsightError
from fabsight.evaluate.external import eval_extra_missing, require_java

TOKENIZER_CLASS = "edu.stanford.nlp.process.PTBTokenizer"
TIMEOUT_S = 600


def _reference_module():
    try:
        from pycocoevalcap.tokenizer import ptbtokenizer
    except ImportError as exc:
        raise eval_extra_missing("pycocoevalcap", exc) from None
    return ptbtokenizer


def punctuation() -> frozenset[str]:
    """The tokens pycocoevalcap removes after tokenising (note: -LRB- etc. are upper case there,
    but Java's -lowerCase makes them -lrb-, so brackets survive as tokens: that is the reference)."""
    return frozenset(_reference_module().PUNCTUATIONS)


def one_line(caption: str) -> str:
    """The caption on one line: every line break Python or Java knows becomes a space."""
    return " ".join(caption.splitlines()) if caption else caption


def ptb_tokenize(captions: list[str]) -> list[str]:
    """Tokenised, lower-cased captions without punctuation tokens, one per input, in order."""
    if not captions:
        return []
    reference = _reference_module()
    jar = Path(reference.__file__).with_name(reference.STANFORD_CORENLP_3_4_1_JAR)
    if not jar.is_file():
        raise FabsightError(f"the PTB tokenizer jar is missing from the pycocoevalcap installation ({jar}); "
                            f"reinstall it: pip install --force-reinstall pycocoevalcap")
    java = require_java("the standard (PTB) caption tokenisation of the COCO evaluation")
    lines = [one_line(c) for c in captions]
    fd, name = tempfile.mkstemp(prefix="fabsight-ptb-", suffix=".txt")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write("\n".join(lines).encode("utf-8"))
        try:
            done = subprocess.run([java, "-cp", str(jar), TOKENIZER_CLASS, "-preserveLines", "-lowerCase", name],
                                  capture_output=True, timeout=TIMEOUT_S, check=False)
        except OSError as exc:
            raise FabsightError(f"could not run Java for the PTB tokenizer: {exc}") from None
        except subprocess.TimeoutExpired:
            raise FabsightError(f"the Java PTB tokenizer did not finish in {TIMEOUT_S} s") from None
    finally:
        Path(name).unlink(missing_ok=True)
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FabsightError(f"the Java PTB tokenizer failed (exit {done.returncode}): "
                            f"{detail[-1] if detail else 'no message'}")
    out = done.stdout.decode("utf-8", "replace").split("\n")
    if len(out) == len(lines) + 1 and out[-1] == "":
        out.pop()
    if len(out) != len(lines):
        raise FabsightError(f"the Java PTB tokenizer returned {len(out)} lines for {len(lines)} captions")
    drop = punctuation()
    # The same expression as pycocoevalcap's PTBTokenizer.tokenize:
    return [" ".join(w for w in line.rstrip().split(" ") if w not in drop) for line in out]


# --- the pure-Python approximation ----------------------------------------------------------------
# Words that keep their final period in the Stanford lexer (measured against the jar: a subset of its lists).
# Most count in any case; a few that are also common words only as written here ("Mass." but "mass .").
_ABBREVIATIONS_ANY_CASE = frozenset("""
adm al ala apr ariz assn aug ave blvd bros calif capt cf cmdr co col colo conn corp cpl dec dept dr est etc feb fla
ft ga gen gov hon inc ind jan jr jul jun kan kans ky lt ltd maj mar md messrs mich minn mo mont mr mrs ms mt neb nev
nov oct okla ph prof pvt rd rep rev sen sep sept sgt sr st supt tenn univ va vs vt wis wisc wyo
""".split())
_ABBREVIATIONS_AS_WRITTEN = frozenset("""
ARK Ark DEL Del ILL Ill LA La MASS MISS Mass Mfg Miss ORE Ore PA Pa TEX Tex WASH Wash mfg
""".split())
_CLITICS = frozenset(["'s", "'m", "'d", "'ll", "'re", "'ve", "n't"])
_CONTRACTION = re.compile(r"(?i)^(.+?)('s|'m|'d|'ll|'re|'ve|n't)$")
_SPLIT_WORDS = {"cannot": "can not", "gonna": "gon na", "gotta": "got ta", "wanna": "wan na", "lemme": "lem me",
                "gimme": "gim me", "'tis": "'t is", "'twas": "'t was"}
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_REPLACE = {"\u2018": "`", "\u2019": "'", "\u201c": "``", "\u201d": "''", "\u00ab": "``", "\u00bb": "''",
            "\u2013": " -- ", "\u2014": " -- ", "\u2026": " ... "}
_TOKEN = re.compile(r"""(?x)
    (?i:(?:https?://|www\.)[^\s]+?(?=[.,;:!?]*(?:\s|$)))   # URLs; trailing punctuation is split off
  | [\w.+-]+@[\w-]+(?:\.[\w-]+)+                         # e-mail addresses
  | (?:[^\W\d_]\.){2,}                                    # dotted abbreviations: u.s.a. e.g. a.m.
  | (?i:'(?:s|m|d|ll|re|ve|tis|twas)\b | n't\b | '\d+s?\b)  # clitics standing alone, '90s
  | (?<![\w.])[-+]\d+(?:[.,:]\d+)*                         # signed numbers: -3 +3
  | @[^\W_]+                                              # @handles
  | [^\W_]+(?:(?:[-/']|_(?!_))[^\W_]+|(?<=\d)[.,:](?=\d)[^\W_]+)*   # words: edge-ring x/y it's a_b 1,000 3.5 10:30
  | \.\d+                                                # .5
  | \.{2,} | -{2,} | _{2,} | ``|'' | [!?]+
  | \S
""")


def _split_word(word: str) -> list[str]:
    """Contractions and the like split as the Stanford lexer does; case kept (abbreviations depend on it)."""
    low = word.lower()
    if low in _SPLIT_WORDS:
        return _SPLIT_WORDS[low].split()
    if "'" not in word or low in _CLITICS or re.fullmatch(r"'\d+s?", low):
        return [word]
    match = _CONTRACTION.match(word)
    if match and "'" not in match.group(1):
        return [match.group(1), match.group(2)]
    if re.fullmatch(r"(?i)[od]'[^\W_]+", word):  # o'neill, d'arcy
        return [word]
    return [part for part in re.split(r"(')", word) if part]


def _is_abbreviation(word: str) -> bool:
    return (len(word) == 1 and word.isalpha()) or word.lower() in _ABBREVIATIONS_ANY_CASE \
        or word in _ABBREVIATIONS_AS_WRITTEN


def python_tokenize_one(caption: str) -> list[str]:
    """Approximate PTB tokens of one caption, lower-cased, punctuation tokens still in."""
    text = one_line(caption)
    for source, target in _REPLACE.items():
        text = text.replace(source, target)
    tokens: list[str] = []  # as written; lower-cased at the end, as Java's -lowerCase does
    for match in _TOKEN.finditer(text):
        token = match.group()
        before = text[match.start() - 1] if match.start() else " "
        if token == '"':
            tokens.append("``" if before.isspace() or before in "([{" else "''")
        elif token in _BRACKETS:
            tokens.append(_BRACKETS[token])
        elif token[0] == "." and set(token) == {"."} and tokens and not before.isspace() \
                and tokens[-1][-1].isalpha() and (_is_abbreviation(tokens[-1]) or text[match.end():][:1] == ","):
            tokens[-1] += "."  # Inc. Co. Mr. A. (and any word before ".,") keep their period; "Inc...." is "Inc." "..."
            if len(token) > 1:
                tokens.append("...")
        elif token.startswith(".."):
            tokens.append("...")
        elif token[0].isalnum() or (token[0] == "'" and len(token) > 1):
            tokens.extend(_split_word(token))
        elif not token.isprintable() or ord(token[0]) > 0xFFFF:
            continue  # control characters and emoji: the Stanford lexer drops them
        else:
            tokens.append(token)
    return [t.lower() for t in tokens]


def python_tokenize(captions: list[str]) -> list[str]:
    """Approximate PTB tokenisation without Java: lower-cased, punctuation tokens removed as pycocoevalcap does."""
    drop = punctuation()
    return [" ".join(t for t in python_tokenize_one(c) if t not in drop) for c in captions]
