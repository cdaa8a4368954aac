"""Local mode: the whole pipeline on one machine, no AWS account (moto + a local SageMaker emulator)."""
