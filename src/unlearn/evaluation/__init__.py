"""Model passes over benchmark splits: generation and likelihoods, feeding the metrics."""
