"""The flask app gunicorn runs: /ping and /invocations (CSV rows in, one prediction per line out)."""

import io
import os
import pickle

import flask
import numpy as np

prefix = "/opt/ml/"
model_path = os.path.join(prefix, "model")


class ScoringService:
    model = None

    @classmethod
    def get_model(cls):
        if cls.model is None:
            with open(os.path.join(model_path, "decision-tree-model.pkl"), "rb") as handle:
                cls.model = pickle.load(handle)
        return cls.model

    @classmethod
    def predict(cls, features):
        return cls.get_model().predict(features)


app = flask.Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping():
    healthy = ScoringService.get_model() is not None
    return flask.Response(response="\n", status=200 if healthy else 404, mimetype="application/json")


@app.route("/invocations", methods=["POST"])
def transformation():
    if flask.request.content_type != "text/csv":
        return flask.Response(
            response="This predictor only supports CSV data", status=415, mimetype="text/plain"
        )
    text = flask.request.data.decode("utf-8")
    features = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2)
    predictions = ScoringService.predict(features)
    body = "".join(f"{int(value)}\n" for value in predictions)
    return flask.Response(response=body, status=200, mimetype="text/csv")
