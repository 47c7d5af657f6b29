"""Text to tokens, and the word vocabulary."""
