"""Label vocabularies and the orders in which a sequence model emits labels."""
