"""The baseline of benchmarks/serving.py: a bare FastAPI endpoint calling the model directly.

What a researcher writes by hand: load the export once, and in an endpoint check, preprocess
and predict each request on its own. The work per request is the same as ``automl serve``'s
(``Predictor.prepare`` then ``Predictor.outputs``: labels and probabilities), with no metrics,
no drift, no batching, no limits.

The endpoint is ``async def``, so model calls run one at a time on the event loop. A plain
``def`` endpoint (FastAPI runs those on a thread pool) fails under concurrent load with
XGBoost: ``XGBoostError: Check failed: !this->need_configuration_`` from concurrent
``predict`` calls on one booster; one at a time is also the fastest baseline at one client.

    python benchmarks/peers/bare_serve.py RUN_DIR PORT
"""

from __future__ import annotations

import sys

import numpy as np
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from automl.results.predictor import load_best

predictor = load_best(sys.argv[1])
app = FastAPI()


class Request(BaseModel):
    instances: list


@app.get("/v2/health/ready")
def ready() -> dict:
    return {"ready": True}


@app.post("/predict")
async def predict(request: Request) -> dict:
    pred, proba = predictor.outputs(predictor.prepare(request.instances), proba=True)
    return {
        "predictions": predictor.labels_of(pred),
        "probabilities": np.asarray(proba).tolist(),
    }


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
