"""The text encoder: tokens, bigrams and a vocabulary learned on the training split.

Keras's TextVectorization needs TensorFlow, so tokenising happens outside
the model with rules simple enough to repeat anywhere from
``preprocessing.json``: lower-case, split into runs of word characters and
single punctuation marks (``TOKEN_PATTERN``), map each token to its index in
the vocabulary (1 for out-of-vocabulary), cut or pad with 0 to a fixed length.

Sequence models alone trail TF-IDF with logistic regression on a few
thousand texts, so each row also carries a bag of n-grams: after the token
ids come the ids of the distinct vocabulary entries (tokens and bigrams, two
tokens joined by one space) found in the text.  Bigrams seen in at least two
training texts join the end of the one vocabulary, so a token has the same id
in both parts; the smooth idf of every entry (as scikit-learn computes it)
goes to the model builder, which weights the bag inside the model.

The loaders that attach this encoder, and the text input kind, are in
:mod:`.text`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from .encoding import Encoder

TOKEN_PATTERN = r"\w+|[^\w\s]"
MAX_TOKENS = 20_000
MAX_BIGRAMS = 20_000
NGRAM_LENGTH_RANGE = (8, 1024)  # the bag is an embedding lookup, so a long one is cheap
PAD, OOV, FIRST_INDEX = 0, 1, 2


def tokenize(text: str) -> list[str]:
    return re.findall(TOKEN_PATTERN, text.lower())


def ngrams(tokens: list[str]) -> list[str]:
    """Each token, then the bigram it starts with the next token (joined by one space), in text order."""
    grams = []
    for i, token in enumerate(tokens):
        grams += [token, f"{token} {tokens[i + 1]}"] if i + 1 < len(tokens) else [token]
    return grams


def smooth_idf(documents: int, document_frequency: int) -> float:
    """scikit-learn's ``smooth_idf``: ln((1 + n) / (1 + df)) + 1, as if one extra text held every entry."""
    return math.log((1 + documents) / (1 + document_frequency)) + 1


class TextEncoder(Encoder):
    """Token ids of a fixed length, then the ids of the text's distinct known n-grams.

    ``vocabulary`` holds ``token_count`` tokens (most frequent first), then
    bigrams; entry i has id i + 2.  An encoder with ``ngram_length`` 0 writes
    token ids only, the layout of bundles made before the n-gram bag.
    """

    def __init__(
        self,
        max_tokens: int = MAX_TOKENS,
        sequence_length: int | None = None,
        vocabulary: tuple[str, ...] = (),
        max_bigrams: int = MAX_BIGRAMS,
        token_count: int | None = None,
        ngram_length: int = 0,
        idf: tuple[float, ...] = (),
    ) -> None:
        self.max_tokens = max_tokens
        self.max_bigrams = max_bigrams
        self.sequence_length = sequence_length
        self.vocabulary = vocabulary
        self.token_count = len(vocabulary) if token_count is None else token_count
        self.ngram_length = ngram_length
        self.idf = idf

    def fit(self, x: Any) -> TextEncoder:
        """Tokens seen twice or more, then bigrams in two texts or more (most frequent first); lengths from percentiles.

        Sequence length: the 95th percentile of token counts, 8 to 256.  N-gram
        length: the 99th percentile of known n-grams per text, 8 to 1024 (a
        longer bag costs little, and a cut one loses words).
        """
        tokenized = [tokenize(t) for t in x]
        counts = Counter(token for tokens in tokenized for token in tokens)
        tokens = _most_frequent(counts, counts, self.max_tokens - FIRST_INDEX)
        frequency = Counter(gram for text in tokenized for gram in set(ngrams(text)))  # document frequency
        bigrams = _most_frequent(frequency, [g for g in frequency if " " in g], self.max_bigrams)
        vocabulary = (*tokens, *bigrams)
        idf = tuple(smooth_idf(len(tokenized), frequency[entry]) for entry in vocabulary)
        length = self.sequence_length or int(
            min(256, max(8, math.ceil(np.percentile([len(t) for t in tokenized], 95))))
        )
        index = _index(vocabulary)
        known = [len(_ngram_ids(text, index)) for text in tokenized]
        low, high = NGRAM_LENGTH_RANGE
        ngram_length = int(min(high, max(low, math.ceil(np.percentile(known, 99)))))
        return TextEncoder(self.max_tokens, length, vocabulary, self.max_bigrams, len(tokens), ngram_length, idf)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TextEncoder:
        """The fitted encoder ``spec`` (``preprocessing.json["input"]``) describes.

        Bundles from before the n-gram bag have neither ``token_count`` nor
        ``ngram_length``: their vocabulary is all tokens and their rows token ids only.
        """
        return cls(
            sequence_length=spec["sequence_length"],
            vocabulary=tuple(spec["vocabulary"]),
            token_count=spec.get("token_count"),
            ngram_length=spec.get("ngram_length", 0),
        )

    def transform(self, x: Any) -> np.ndarray:
        index = _index(self.vocabulary)
        length = self.sequence_length
        out = np.full((len(x), length + self.ngram_length), PAD, dtype=np.int32)
        for row, text in enumerate(x):
            tokens = tokenize(str(text))
            ids = [index.get(token, OOV) for token in tokens][:length]
            out[row, : len(ids)] = ids
            if self.ngram_length:
                grams = _ngram_ids(tokens, index)[: self.ngram_length]
                out[row, length : length + len(grams)] = grams
        return out

    def statistics(self, encoded_train: np.ndarray) -> dict[str, Any]:
        """Sizes of the two embeddings and the idf of every n-gram id (0 for padding and unknown, which never count)."""
        return {
            "vocabulary_size": self.token_count + FIRST_INDEX,
            "sequence_length": self.sequence_length,
            "ngram_vocabulary_size": len(self.vocabulary) + FIRST_INDEX,
            "ngram_length": self.ngram_length,
            "idf": [0.0] * FIRST_INDEX + list(self.idf),
        }

    def spec(self) -> dict[str, Any]:
        return {
            "kind": "text",
            "lowercase": True,
            "token_pattern": TOKEN_PATTERN,
            "vocabulary": list(self.vocabulary),
            "token_count": self.token_count,
            "padding_index": PAD,
            "out_of_vocabulary_index": OOV,
            "first_vocabulary_index": FIRST_INDEX,
            "sequence_length": self.sequence_length,
            "ngram_length": self.ngram_length,
            "shape": [self.sequence_length + self.ngram_length],
            "dtype": "int32",
            "rules": [
                "Lower-case the text and find all matches of token_pattern (Python re): the tokens.",
                "Entry i of vocabulary has id i + 2: its first token_count entries are tokens, "
                "the rest bigrams (two tokens joined by one space).",
                "The first sequence_length columns: the id of each token in order (1 for a token not in vocabulary), "
                "cut to sequence_length and padded at the end with 0.",
                "The last ngram_length columns: the n-grams of the text in order (each token, then the bigram it "
                "starts with the next token), kept when in vocabulary, as ids without repeats; "
                "cut to ngram_length and padded at the end with 0.",
            ],
        }


def _most_frequent(counts: Counter[str], candidates: Iterable[str], limit: int) -> list[str]:
    """The candidates counted at least twice, most frequent first (ties alphabetically), at most ``limit``."""
    return sorted((c for c in candidates if counts[c] >= 2), key=lambda c: (-counts[c], c))[:limit]


def _index(vocabulary: tuple[str, ...]) -> dict[str, int]:
    """Entry to id; tokens never contain a space, so a token never matches a bigram entry."""
    return {entry: i + FIRST_INDEX for i, entry in enumerate(vocabulary)}


def _ngram_ids(tokens: list[str], index: dict[str, int]) -> list[int]:
    """Ids of the known n-grams of ``tokens``, first occurrence first, without repeats."""
    return list(dict.fromkeys(index[gram] for gram in ngrams(tokens) if gram in index))
