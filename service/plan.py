"""The encoder plan: the fitted pipeline's arithmetic as data (`encoder.json` in the model directory).

`promote` derives it from the fitted pipeline and the manifest hashes it. The service still unpickles
`model.joblib` and refuses a directory whose plan is not exactly the pipeline's (`service.model_store`);
the weekly command scores from the plan alone when it holds the whole model (a logistic regression),
which spares it the ~4 s import of scikit-learn, SciPy's statistics and pandas that unpickling costs.
Floats are written as their shortest round-tripping decimal, so the plan holds exactly the fitted bits.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

PLAN_FILE = "encoder.json"
Category = str | int | float


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericStep(_Frozen):
    kind: Literal["numeric"] = "numeric"
    columns: tuple[str, ...]
    fill: tuple[float, ...] | None = Field(description="SimpleImputer.statistics_ (None: no imputer).")
    mean: tuple[float, ...] | None = Field(description="StandardScaler.mean_ (None: not centred).")
    scale: tuple[float, ...] | None = Field(description="StandardScaler.scale_ (None: not scaled).")


class OneHotStep(_Frozen):
    kind: Literal["one_hot"] = "one_hot"
    columns: tuple[str, ...]
    categories: tuple[tuple[Category, ...], ...] = Field(description="OneHotEncoder.categories_, in order.")


class LinearHead(_Frozen):
    """A binary logistic regression: P(churn) = expit(x . coef + intercept)."""

    coef: tuple[float, ...]
    intercept: float


class EncoderPlan(_Frozen):
    steps: tuple[Annotated[NumericStep | OneHotStep, Field(discriminator="kind")], ...]
    head: LinearHead | None = Field(description="None: the estimator needs the pickled model to score.")

    def to_json(self) -> str:
        return self.model_dump_json(indent=1) + "\n"
