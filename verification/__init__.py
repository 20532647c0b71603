"""Executable checks of churnguard's promises, each proven (tests/verification/) to fail on its fault.

`python -m verification [TARGET ...]` runs them and writes `verification-report.json`; `registry.py` lists them.
"""
