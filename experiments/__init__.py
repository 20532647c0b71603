"""Training side of churnguard: data loading, profiling, config-driven training and model directories."""
