"""Request and response models. Request models are generated from the data profile at app creation,
so every bound and category set is enforced before the model and published in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from service.profile import CategoricalFeature, Condition, DataProfile, Feature, IntegerFeature, Rule

CROSS_FIELD_ERROR = "cross_field_rule"
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


def _whole_float_to_int(value: Any) -> Any:
    # JSON Schema counts 18.0 as an integer, so the contract must too; 18.5, true and "18" stay refused.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _field_type(spec: Feature) -> Any:
    if isinstance(spec, CategoricalFeature):
        kind: Any = Literal[spec.allowed]  # a tuple subscript spreads into Literal["a", "b", ...]
    elif isinstance(spec, IntegerFeature):
        # strict: 0.5, true and "1" are not integers. The inner Annotated keeps minimum/maximum in the schema.
        kind = Annotated[
            Annotated[int, Field(strict=True, ge=spec.min, le=spec.max)], BeforeValidator(_whole_float_to_int)
        ]
    else:
        # strict: true and "12" are not numbers; allow_inf_nan=False refuses NaN and Infinity.
        kind = Annotated[float, Field(strict=True, ge=spec.min, le=spec.max, allow_inf_nan=False)]
    return kind | None if spec.nullable else kind


def _describe(name: str, spec: Feature) -> str:
    if isinstance(spec, CategoricalFeature):
        text = f"`{name}`: one of the training categories."
    else:
        text = f"`{name}`: {spec.type} in [{spec.min}, {spec.max}] (training range, inclusive)."
    return text + (" Null allowed (see the cross-field rules)." if spec.nullable else "")


def rule_violations(profile: DataProfile, row: Mapping[str, Any]) -> list[dict[str, str]]:
    """The cross-field rules a field-valid row breaks, worded once for every path (request model, columnar)."""
    return [
        {
            "field": rule.then.field,
            "rule": rule.name,
            "message": f"{rule.describe()}; got " + ", ".join(f"{field}={row[field]!r}" for field in rule.fields),
        }
        for rule in profile.violations(row)
    ]


def build_customer_model(profile: DataProfile) -> type[BaseModel]:
    """A pydantic model with one required field per profiled feature, plus an optional `customer_id`."""

    def check_rules(customer: BaseModel) -> BaseModel:
        broken = rule_violations(profile, customer.__dict__)
        if broken:
            raise PydanticCustomError(CROSS_FIELD_ERROR, "cross-field rules broken", {"violations": broken})
        return customer

    fields: dict[str, Any] = {
        name: (_field_type(spec), Field(description=_describe(name, spec))) for name, spec in profile.features.items()
    }
    fields["customer_id"] = (
        str | None,
        Field(default=None, pattern=CUSTOMER_ID_PATTERN, description="Caller's id, echoed back in the answer."),
    )
    rules = "; ".join(rule.describe() for rule in profile.rules)
    schema_extra: JsonDict = {
        "description": f"Cross-field rules: {rules}.",
        "allOf": [_rule_schema(rule) for rule in profile.rules],
    }
    return create_model(
        "Customer",
        __config__=ConfigDict(extra="forbid", json_schema_extra=schema_extra),
        __validators__={"check_rules": model_validator(mode="after")(check_rules)},  # type: ignore[dict-item]
        **fields,
    )


def _condition_schema(condition: Condition) -> JsonDict:
    value: JsonDict = {"type": "null"} if condition.is_null else {"const": condition.equals}
    return {"properties": {condition.field: value}, "required": [condition.field]}


def _rule_schema(rule: Rule) -> JsonDict:
    """`when` exactly when `then`, in JSON Schema: clients and fuzzers see the rule, not just the fields."""
    then = _condition_schema(rule.then)
    return {"if": _condition_schema(rule.when), "then": then, "else": {"not": then}}


def build_batch_model(customer: type[BaseModel], max_batch: int) -> type[BaseModel]:
    return create_model(
        "CustomerBatch",
        __config__=ConfigDict(extra="forbid"),
        customers=(list[customer], Field(min_length=1, max_length=max_batch)),  # type: ignore[valid-type]
    )


@dataclass(frozen=True)
class RequestModels:
    customer: type[BaseModel]
    batch: type[BaseModel]


def build_request_models(profile: DataProfile, max_batch: int) -> RequestModels:
    customer = build_customer_model(profile)
    return RequestModels(customer=customer, batch=build_batch_model(customer, max_batch))


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class Prediction(_Out):
    prediction: Literal[0, 1] = Field(description="1 = will churn, 0 = will not.")
    probability: float = Field(ge=0.0, le=1.0, description="Churn probability.")
    model_version: str = Field(description="Version of the model that answered (see GET /model).")
    request_id: str
    customer_id: str | None = Field(default=None, description="Echoed when the request carried one.")


class BatchPrediction(_Out):
    model_version: str = Field(description="The one model version that answered every row.")
    request_id: str
    predictions: list[Prediction] = Field(description="One answer per customer, in request order.")


class HealthStatus(_Out):
    status: Literal["healthy", "unhealthy"]
    model_loaded: bool
    model_version: str | None = None
    reason: str | None = Field(default=None, description="Why unhealthy, and what to do about it.")


class Liveness(_Out):
    status: Literal["alive"] = "alive"
