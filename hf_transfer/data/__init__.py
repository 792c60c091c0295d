"""A recipe's data made ready (``prepare``: roles, labels, splits, tokenization) and the tokenization cache."""
