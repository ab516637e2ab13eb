"""Privacy: attacks on synthetic data, and differentially private training (dp.py)."""
