"""The flask scoring app, behaving as the example's predictor.py does.

It loads the model once per worker on first use, answers /ping with 200 once the model
loads, accepts only text/csv (pandas read_csv, no header), prints one line per request and
answers one prediction per CSV line.
"""

import io
import os

import flask
import joblib
import pandas as pd

MODEL_PATH = os.environ["BYO_MODEL_PATH"]


class ScoringService:
    model = None

    @classmethod
    def get_model(cls):
        if cls.model is None:
            # The example pickles its tree; joblib.load reads plain pickles and joblib files alike.
            cls.model = joblib.load(MODEL_PATH)
        return cls.model

    @classmethod
    def predict(cls, frame):
        return cls.get_model().predict(frame)


app = flask.Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping():
    status = 200 if ScoringService.get_model() is not None else 404
    return flask.Response(response="\n", status=status, mimetype="application/json")


@app.route("/invocations", methods=["POST"])
def transformation():
    if flask.request.content_type != "text/csv":
        return flask.Response(
            response="This predictor only supports CSV data", status=415, mimetype="text/plain"
        )
    frame = pd.read_csv(io.StringIO(flask.request.data.decode("utf-8")), header=None)
    print(f"Invoked with {frame.shape[0]} records")
    predictions = ScoringService.predict(frame)
    out = io.StringIO()
    pd.DataFrame({"results": predictions}).to_csv(out, header=False, index=False)
    return flask.Response(response=out.getvalue(), status=200, mimetype="text/csv")
