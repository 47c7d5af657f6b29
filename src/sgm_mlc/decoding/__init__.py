"""Decoding strategies for the sequence models: greedy and batched beam search behind one interface."""

from sgm_mlc.decoding.base import DecodeResult, DecodeStrategy
from sgm_mlc.decoding.beam import BeamSearch
from sgm_mlc.decoding.greedy import GreedySearch

__all__ = ["BeamSearch", "DecodeResult", "DecodeStrategy", "GreedySearch"]
