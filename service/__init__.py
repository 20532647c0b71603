"""Serving side of churnguard: a FastAPI app over a validated, versioned churn model."""
