from fastapi.testclient import TestClient

from tests.utils.customers import customer


def test_predict_answers_with_the_loaded_model_version(client: TestClient) -> None:
    answer = client.post("/predict", json=customer(customer_id="7590-VHVEG"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == client.get("/model").json()["version"]
    assert 0.0 <= body["probability"] <= 1.0
    assert body["customer_id"] == "7590-VHVEG"
