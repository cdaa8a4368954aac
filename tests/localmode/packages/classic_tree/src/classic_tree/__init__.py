"""A decision tree in SageMaker's classic bring-your-own style (train + nginx/gunicorn/flask serve)."""
