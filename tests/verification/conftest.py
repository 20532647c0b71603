"""Verification tests: each target passes on the committed code and fails on a planted fault (sabotage
proofs), plus the test kit itself."""
