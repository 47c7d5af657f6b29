"""Encoded examples and length-bucketed batches.

A batch holds documents of similar length, so padding (and the LSTM work spent on it) stays small: the
training order is shuffled (seeded per epoch), cut into pools of ``pool_batches`` batches, each pool sorted by
length and cut into batches, and the batches shuffled again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sgm_mlc.models.label_ids import multi_hot, teacher_forcing_targets


@dataclass(frozen=True)
class EncodedExamples:
    """One split, encoded: word ids (truncated) and label ids in the chosen label order.

    ``words[i]`` is an int64 array of document ``i``'s word ids (at least one id); ``labels[i]`` its label
    indices (the labels' places in the order's ranking, ``0 … n_labels - 1``) in sequence order; ``ids[i]``
    its example id.
    """

    ids: tuple[str, ...]
    words: tuple[np.ndarray, ...]
    labels: tuple[tuple[int, ...], ...]
    n_labels: int

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(words) for words in self.words])


def encode_examples(
    ids: Sequence[str],
    token_ids: Sequence[Sequence[int]],
    label_sequences: Sequence[Sequence[str]],
    label_ranking: Sequence[str],
    max_source_length: int | None,
) -> EncodedExamples:
    """Truncate documents to ``max_source_length`` words (``None``: keep all; an empty document becomes one
    unknown word) and map labels to their place in ``label_ranking``."""
    position = {label: i for i, label in enumerate(label_ranking)}
    words = tuple(np.asarray(list(t)[:max_source_length] or [1], dtype=np.int64) for t in token_ids)
    labels = tuple(tuple(position[label] for label in sequence) for sequence in label_sequences)
    return EncodedExamples(tuple(ids), words, labels, len(label_ranking))


@dataclass
class Batch:
    """Padded tensors for one batch.

    ``src`` ``(batch, src_len)`` word ids, 0-padded; ``src_lengths`` ``(batch,)``; ``tgt_in`` / ``tgt_out``
    ``(batch, tgt_len)`` label ids: ``[BOS, l1..lk]`` / ``[l1..lk, EOS]`` padded with ``PAD_LABEL``;
    ``multi_hot`` ``(batch, n_labels)`` float; ``indices`` ``(batch,)`` positions of the examples in their split.
    """

    src: torch.Tensor
    src_lengths: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    multi_hot: torch.Tensor
    indices: np.ndarray

    def to(self, device: torch.device) -> Batch:
        return Batch(
            self.src.to(device),
            self.src_lengths.to(device),
            self.tgt_in.to(device),
            self.tgt_out.to(device),
            self.multi_hot.to(device),
            self.indices,
        )


def collate(examples: EncodedExamples, indices: np.ndarray) -> Batch:
    """Pad the examples at ``indices`` into a :class:`Batch`."""
    words = [examples.words[i] for i in indices]
    labels = [examples.labels[i] for i in indices]
    src = torch.zeros(len(indices), max(len(w) for w in words), dtype=torch.long)
    for row, document in enumerate(words):
        src[row, : len(document)] = torch.from_numpy(document)
    tgt_in, tgt_out = teacher_forcing_targets(labels)
    lengths = torch.tensor([len(w) for w in words], dtype=torch.long)
    return Batch(src, lengths, tgt_in, tgt_out, multi_hot(labels, examples.n_labels), np.asarray(indices))


def training_batches(
    examples: EncodedExamples, batch_size: int, seed: int, epoch: int, pool_batches: int = 50
) -> list[np.ndarray]:
    """The index batches of one training epoch: shuffled, length-bucketed, reproducible from (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(examples))
    lengths = examples.lengths
    batches = []
    pool_size = batch_size * pool_batches
    for start in range(0, len(order), pool_size):
        pool = order[start : start + pool_size]
        pool = pool[np.argsort(lengths[pool], kind="stable")]
        batches += [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def evaluation_batches(
    examples: EncodedExamples, batch_size: int, max_tokens: int | None = None
) -> Iterator[np.ndarray]:
    """Index batches sorted by length (least padding); callers put results back by ``Batch.indices``.

    A batch holds at most ``batch_size`` documents and, when ``max_tokens`` is set, at most ``max_tokens``
    padded tokens (documents × its longest document; a single longer document still gets a batch of its
    own). The cap keeps the long-document tail from padding a whole batch to the longest document: LSTM work
    grows with the padded tokens and self-attention work with their square.
    """
    lengths = examples.lengths
    batch: list[int] = []
    for index in np.argsort(lengths, kind="stable"):
        rows = len(batch) + 1
        if batch and (rows > batch_size or (max_tokens is not None and rows * lengths[index] > max_tokens)):
            yield np.array(batch)
            batch = []
        batch.append(int(index))
    if batch:
        yield np.array(batch)
