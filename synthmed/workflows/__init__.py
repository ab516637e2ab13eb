"""Workflows: each command end to end (training and sampling, evaluation, release, audit, ehr-matrix, demo),
built from the layers below; the CLI calls one of these functions per command."""
