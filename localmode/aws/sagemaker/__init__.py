"""The SageMaker control plane behind the emulator: training jobs, models, endpoint configs, endpoints,
tags, and how their containers run on this machine."""
