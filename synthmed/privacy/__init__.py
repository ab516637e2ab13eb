"""Privacy: attacks on synthetic data, differentially private training (dp.py) and the release gate."""
