"""Evaluation: fidelity, utility and privacy of synthetic tables against real ones, with verdicts."""
