"""Workflows: the steps a command runs end to end (release, audit, demo), built from the layers below."""
