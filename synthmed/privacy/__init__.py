"""Privacy: attacks on synthetic data (and, later, differentially private training)."""
