"""SageMaker train/serve runtime for sagemaker-pipeline.

Users' training functions may call `smp_runtime.training_environment()` for the hyperparameters,
channels and paths of the current job (the same values are also in SM_* environment variables).
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainingEnvironment", "training_environment"]


def __getattr__(name: str) -> Any:
    # Lazy, so that the server never imports the training modules.
    if name in __all__:
        from smp_runtime import training

        return getattr(training, name)
    raise AttributeError(name)
