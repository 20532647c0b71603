"""The data set's columns and the API's field names: no pandas here, so the weekly command and the
service can import them without its ~1.4 s import."""

from __future__ import annotations

from pathlib import Path

# CSV column -> API field. Order is the CSV's and is the model's feature order.
COLUMNS: dict[str, str] = {
    "customerID": "customer_id",
    "gender": "gender",
    "SeniorCitizen": "senior_citizen",
    "Partner": "partner",
    "Dependents": "dependents",
    "tenure": "tenure",
    "PhoneService": "phone_service",
    "MultipleLines": "multiple_lines",
    "InternetService": "internet_service",
    "OnlineSecurity": "online_security",
    "OnlineBackup": "online_backup",
    "DeviceProtection": "device_protection",
    "TechSupport": "tech_support",
    "StreamingTV": "streaming_tv",
    "StreamingMovies": "streaming_movies",
    "Contract": "contract",
    "PaperlessBilling": "paperless_billing",
    "PaymentMethod": "payment_method",
    "MonthlyCharges": "monthly_charges",
    "TotalCharges": "total_charges",
    "Churn": "churn",
}
ID = "customer_id"
TARGET = "churn"
POSITIVE_LABEL = "Yes"
INTEGER_FEATURES = ("senior_citizen", "tenure")
NUMBER_FEATURES = ("monthly_charges", "total_charges")
NUMERIC_FEATURES = INTEGER_FEATURES + NUMBER_FEATURES
FEATURES = tuple(name for name in COLUMNS.values() if name not in (ID, TARGET))
CATEGORICAL_FEATURES = tuple(name for name in FEATURES if name not in NUMERIC_FEATURES)

DEFAULT_DATA_PATH = Path("data/telco_customer_churn.csv")
