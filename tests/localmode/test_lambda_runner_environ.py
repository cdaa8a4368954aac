"""The Lambda runner swaps each function's variables in and out of os.environ while other threads of
local mode create boto3 clients, which read the environment whole. Those reads must never meet a
variable removed halfway (a training job once failed with KeyError: 'STACK_NAME')."""

from __future__ import annotations

import os
import threading

import pytest

from localmode.pipeline.lambda_runner import LambdaRunner, environment, guard_environ

KEYS = [f"SMP_ENVIRON_TEST_{index}" for index in range(50)]


@pytest.fixture
def variables():
    for key in KEYS:
        os.environ[key] = "x"
    yield
    for key in KEYS:
        os.environ.pop(key, None)


def remove_while_reading(environ) -> None:
    """Read the mapping whole, as urllib's proxy lookup does, removing a later key halfway."""
    for index, (key, _value) in enumerate(environ.items()):
        if key == KEYS[0]:
            environ.pop(KEYS[-1], None)
        assert index < 10_000


def test_a_plain_environ_fails_when_a_key_goes_halfway(variables):
    plain = os._Environ(  # the class os.environ has, over its own copy of the variables
        dict(os.environ._data),
        os.environ.encodekey,
        os.environ.decodekey,
        os.environ.encodevalue,
        os.environ.decodevalue,
    )
    with pytest.raises(KeyError):
        remove_while_reading(plain)


def test_the_guarded_environ_reads_one_snapshot(variables):
    guard_environ()
    remove_while_reading(os.environ)
    assert KEYS[-1] not in os.environ
    snapshot = os.environ.copy()
    assert isinstance(snapshot, dict) and snapshot[KEYS[0]] == "x"
    assert KEYS[0] in list(os.environ) and KEYS[0] in os.environ.keys()


def test_copies_in_other_threads_survive_the_runners_swaps():
    guard_environ()
    stop = threading.Event()
    failures: list[BaseException] = []

    def copy_forever() -> None:
        while not stop.is_set():
            try:
                os.environ.copy()
                dict(os.environ.items())
            except BaseException as error:  # noqa: BLE001 - collected for the assertion
                failures.append(error)
                return

    reader = threading.Thread(target=copy_forever)
    reader.start()
    try:
        for _ in range(2000):
            with environment({key: "function" for key in KEYS}):
                pass
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert not any(key in os.environ for key in KEYS)


def test_the_runner_guards_the_environment():
    class NoFunctions:
        pass

    LambdaRunner(lambda_client=NoFunctions(), endpoints={}, region="eu-west-1")
    assert type(os.environ).__name__ == "_ConsistentEnviron"


def test_a_new_runner_starts_the_functions_cold():
    """A new local world does not reuse another world's Price List answers (module caches of the handlers)."""

    class NoFunctions:
        pass

    LambdaRunner(lambda_client=NoFunctions(), endpoints={}, region="eu-west-1")
    import common.pricing as pricing

    pricing._cache[("eu-west-1", "ml.m5.large", "Training")] = None
    LambdaRunner(lambda_client=NoFunctions(), endpoints={}, region="eu-west-1")
    assert pricing._cache == {}
