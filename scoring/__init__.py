"""Batch scoring: the weekly at-risk list from a customer export (CSV or Parquet), at any size."""
