"""The one harness kit that tests, verification and benchmarks import: repository paths, the loopback address
and a free port, one HTTP client, managed processes (the service, Prometheus, an mlflow server), the valid
customers, and the load generator. It depends on `service` (for the settings' names and the profile types),
never on `tests`, `verification` or `benchmarks`."""
