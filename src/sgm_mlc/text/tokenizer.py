"""A small, deterministic word tokenizer shared by every text dataset."""

from __future__ import annotations

import re

# Words (with an inner apostrophe or hyphen kept: "don't", "u.s" is split), and numbers with inner , or .
TOKEN_PATTERN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+(?:[.,]\d+)*")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split ``text`` into word and number tokens; punctuation and control characters are dropped."""
    if lowercase:
        text = text.lower()
    return TOKEN_PATTERN.findall(text)
