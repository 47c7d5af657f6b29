"""Word vectors for the project's vocabulary (gensim)."""

# The file names are here, not in word_vectors, so that readers of the vectors need not import gensim.
VECTORS_FILE = "vectors.npy"
COVERAGE_FILE = "coverage.json"
