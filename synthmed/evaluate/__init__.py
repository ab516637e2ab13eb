"""Evaluation: fidelity (and, later, utility) of synthetic tables against real ones."""
