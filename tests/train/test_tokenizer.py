import subprocess
import sys

import pytest

from fabsight.train.tokenizer import BOS, EOS, UNK, train_tokenizer

# Trains on the descriptions of a few hundred drawn maps and prints a hash of the tokenizer's JSON. Run in
# separate interpreters: `tokenizers` seeds its hash maps per process, which is where word-piece training
# used to differ (huggingface/tokenizers#1794).
TRAIN_AND_HASH = """
import hashlib, numpy as np
from fabsight.train.descriptions import describe
from fabsight.train.tokenizer import train_tokenizer
from fabsight.train.wafer_data import draw_wafer_set
rng = np.random.default_rng(0)
data = draw_wafer_set(600, 200, 0)
tokenizer = train_tokenizer([describe(t, rng) for t in data.truths for _ in range(3)], vocab_size=2048)
print(hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest())
"""


def test_the_same_corpus_gives_the_same_tokenizer_in_every_process():
    hashes = {subprocess.run([sys.executable, "-c", TRAIN_AND_HASH], capture_output=True, text=True,
                             check=True).stdout.strip() for _ in range(3)}
    assert len(hashes) == 1 and len(hashes.pop()) == 64


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(["an edge ring with a scratch", "a centre blob at 12% fail", "no visible pattern"] * 5)


def test_known_words_stay_whole_and_texts_are_framed(tokenizer):
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("Edge ring, 12%")["input_ids"])
    assert tokens[0] == BOS and tokens[-1] == EOS
    assert tokens[1:3] == ["▁edge", "▁ring"]  # lower-cased, one piece per word seen in training
    assert "▁1" in tokens and "▁2" in tokens  # digits one by one


def test_unseen_words_split_into_pieces_and_unknown_characters_alone_are_unknown(tokenizer):
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("scratches ✓ ring")["input_ids"])
    assert tokens[1:4] == ["▁scratch", "e", "s"]  # the known word, then pieces for the rest
    assert tokens.count(UNK) == 1 and tokens[-2] == "▁ring"  # only ✓ is unknown; the next word is whole
    assert tokenizer.decode(tokenizer("edge ring")["input_ids"], skip_special_tokens=True) == "edge ring"
