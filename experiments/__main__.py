"""`python -m experiments COMMAND`: the data team's entry point."""

from experiments.cli import main

raise SystemExit(main())
