"""The reference bring-your-own serving stack of SageMaker's scikit_bring_your_own example.

nginx in front of gunicorn (gevent workers, one per core, unix socket) running a flask app
that parses CSV with pandas. Written fresh for the benchmark; only paths are adapted so that
nothing outside a temporary directory is touched and nginx listens on 127.0.0.1.
"""
