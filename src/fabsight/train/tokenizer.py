"""A small byte-pair tokenizer trained on fabsight's own descriptions, saved in the transformers format."""

from __future__ import annotations

from collections.abc import Iterable

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048, max_length: int = 32):
    """A `PreTrainedTokenizerFast` (lower-cased, [BOS] text [EOS]) learnt from `texts`, the same in every process.

    Byte-pair pieces with a word-start mark ("▁edge"), not word-pieces ("##ge"): `tokenizers`' word-piece
    trainer numbers its "##" pieces in hash-map order, which changes from process to process, and breaks ties
    between merges on those numbers (huggingface/tokenizers#1794), so the same corpus gave other pieces and
    ids each time, and a rebuild other weights. This trainer starts from the sorted alphabet alone.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token=UNK))
    core.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    # Digits one by one: "12%" and "8%" share pieces, so numbers never fall out of the vocabulary.
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(),
                                                  pre_tokenizers.Digits(individual_digits=True),
                                                  pre_tokenizers.Metaspace()])
    core.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, UNK, BOS, EOS])
    core.train_from_iterator(texts, trainer=trainer)
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, core.token_to_id(BOS)), (EOS, core.token_to_id(EOS))])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, unk_token=UNK, bos_token=BOS,
                                   eos_token=EOS, model_max_length=max_length)
