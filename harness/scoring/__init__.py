"""Scoring: from log-probabilities to predictions, and from per-question records to scores and tests."""
