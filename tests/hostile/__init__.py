"""Handlers of the hostile-corpus consumer process (tests/integration/test_hostile_corpus.py)."""
