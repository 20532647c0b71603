"""Service tests: the API through Starlette's test client (`client`, from the root conftest) and a real uvicorn
where the server layer is what is tested (hostile clients, framing, process lifecycle)."""
