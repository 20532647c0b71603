"""Latency and throughput benchmarks of the running service (loopback only)."""
