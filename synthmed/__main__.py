"""`python -m synthmed` runs the CLI."""

from synthmed.cli import main

main()
