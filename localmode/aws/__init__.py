"""The AWS stand-ins: moto for the services it has, a local SageMaker emulator for what it lacks.
Nothing here knows about the pipeline; pipeline/ and run/ build on it."""
