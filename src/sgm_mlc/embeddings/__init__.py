"""Word vectors for the project's vocabulary (gensim)."""
