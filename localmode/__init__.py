"""Local mode: the whole pipeline on one machine, no AWS account (moto + a local SageMaker emulator).

aws/ stands in for the AWS services, pipeline/ deploys the stack and plays the pipeline against them,
run/ is what the user runs (`python -m localmode`)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: template/, lambdas/, container/, examples/
