"""The ceiling: the same model behind a bare ASGI function.

No routing, no validation, no content negotiation: read the body, parse it the cheapest way
(JSON when it starts with `{` or `[`, CSV otherwise), predict, answer CSV. Any GET is a
health check. Served by the fastest ASGI server found on this machine, it shows how much a
Python server can do here at all.
"""

import json
import os

import joblib
import numpy as np

_model = joblib.load(os.environ["CEILING_MODEL_PATH"])
_HEALTHY = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
_CSV_HEADERS = [(b"content-type", b"text/csv")]


def _rows(body: bytes) -> np.ndarray:
    if body[:1] in (b"{", b"["):
        document = json.loads(body)
        return np.asarray(document["instances"] if isinstance(document, dict) else document, dtype=float)
    lines = body.strip().split(b"\n")
    values = np.array(b",".join(lines).split(b","), dtype=float)
    return values.reshape(len(lines), -1)


async def app(scope, receive, send):
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["method"] == "GET":
        await send(_HEALTHY)
        await send({"type": "http.response.body", "body": b""})
        return
    predictions = _model.predict(_rows(body))
    payload = "\n".join(map(str, predictions.tolist())).encode() + b"\n"
    await send({"type": "http.response.start", "status": 200, "headers": _CSV_HEADERS})
    await send({"type": "http.response.body", "body": payload})
