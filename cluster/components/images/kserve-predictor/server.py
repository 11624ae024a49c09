"""The course model behind KServe's model server: the v1 and v2 inference protocols.

    python server.py --model_name taxi-tip            # MODEL_KIND=logistic serves the other version
    python server.py --model_name taxi-tip --host 127.0.0.1 --http_port 8080   # outside a container

v1: POST /v1/models/NAME:predict  {"instances": [{trip}, ...]}   -> {"predictions": [p, ...]}
v2: POST /v2/models/NAME/infer    {"inputs": [one column per feature]} -> one output, "probability"

A trip is a row of mlops_course.data.generate_trips without its label: pickup_time (ISO
text), trip_miles, trip_seconds, fare, payment_type, company, pickup_area, dropoff_area.
The predictions are the probability of a big tip. The model is loaded before the server
starts, so /v1/models/NAME and /v2/health/ready answer 200 only when it can predict:
that is what the InferenceService's readiness probe asks. A missing model file ends the
process with one line that says so; a v2 request whose tensors do not match their shapes,
or one another, gets a 400.

kserve 0.21's REST server always binds 0.0.0.0, which a container needs (its own loopback
is not what a published port or a pod's IP reaches); --host binds another address, such
as 127.0.0.1 when the same script runs on a laptop.
"""
import argparse
import os
import sys
import uuid

import joblib
import numpy as np
import pandas as pd
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer, model_server
from kserve.errors import InvalidInput

from mlops_course.model import FEATURES

MODELS = os.environ.get("MODELS", "/models")
#: What a request must send: the features, with the pickup time the hour and weekday are derived from.
COLUMNS = ["pickup_time", *(f for f in FEATURES if f not in ("pickup_hour", "pickup_weekday"))]


class TaxiTipModel(Model):
    def __init__(self, name: str, kind: str):
        super().__init__(name)
        self.kind = kind
        self.pipeline = None

    def load(self) -> bool:
        path = os.path.join(MODELS, f"{self.kind}.joblib")
        if not os.path.isfile(path):
            sys.exit(f"error: there is no model file at {path}: set MODELS to the folder that holds {self.kind}.joblib")
        self.pipeline = joblib.load(path)
        self.ready = True
        return self.ready

    def _probabilities(self, trips: pd.DataFrame) -> np.ndarray:
        missing = [c for c in COLUMNS if c not in trips]
        if missing:
            raise InvalidInput(f"each trip needs {', '.join(missing)}: send the columns of generate_trips without big_tip")
        trips = trips.assign(pickup_time=pd.to_datetime(trips["pickup_time"]))  # JSON has no time type
        return self.pipeline.predict_proba(trips)[:, 1]

    def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, InferRequest):
            for i in payload.inputs:
                if len(i.data) != int(np.prod(i.shape)):
                    raise InvalidInput(f"input {i.name} has {len(i.data)} values for shape {i.shape}: send one value per trip")
            if len({tuple(i.shape[:1]) for i in payload.inputs}) > 1:
                raise InvalidInput("the inputs' shapes give different numbers of trips: send every input for every trip")
            probabilities = self._probabilities(payload.as_dataframe())
            output = InferOutput(name="probability", shape=[len(probabilities)], datatype="FP64",
                                 data=probabilities.tolist())
            # The v2 protocol makes the request id optional and the response id required.
            return InferResponse(response_id=payload.id or str(uuid.uuid4()), model_name=self.name, model_version=self.kind,
                                 infer_outputs=[output])
        instances = payload.get("instances") if isinstance(payload, dict) else None
        if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
            raise InvalidInput('send {"instances": [{trip}, ...]}, one object per trip')
        return {"predictions": self._probabilities(pd.DataFrame(instances)).tolist()}


class HostModelServer(ModelServer):
    """kserve 0.21's ModelServer, listening on ``host`` (its REST server always binds 0.0.0.0)."""

    def __init__(self, host: str, **kwargs):
        super().__init__(**kwargs)
        self.host = host

    async def _serve(self):
        # start() has built the uvicorn configuration; nothing listens until the servers are awaited here.
        if self._rest_server is not None:  # one worker; with several, kserve's multiprocess server binds 0.0.0.0
            self._rest_server.config.host = self.host
        await super()._serve()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])  # --http_port, --model_name, --enable_grpc, ...
    parser.add_argument("--host", default="0.0.0.0", help="the address to listen on; a container needs 0.0.0.0")
    args, _ = parser.parse_known_args()
    served = TaxiTipModel(args.model_name, os.environ.get("MODEL_KIND", "gbdt"))
    served.load()
    HostModelServer(args.host).start([served])
