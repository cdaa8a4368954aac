"""Helpers every handler shares, one job per module. Handlers import the modules they use; no module
here imports a handler.

- ``clients``: the lazy, cached boto3 clients (standard retries) and their reset for tests.
- ``errors``: ConfigurationError and the reading of AWS error codes into one line for a person.
- ``logs``: JSON-lines logging with bound context and redaction of secrets.
- ``settings``: readers of the function's environment (the stack's settings);
  ``training_settings`` and ``deploy_settings``: the Train and Deploy stages' settings.
- ``training_job``: a run's CreateTrainingJob request and the messages when SageMaker refuses or ends it.
- ``names``: the naming and instance-type rules of the SageMaker resources a run creates.
- ``sagemaker_resources``: what "created by this stack" means (tags), describe-or-absent, pruning
  and deleting this stack's resources.
- ``codepipeline``: the CodePipeline job contract (exactly one result, continuation tokens).
- ``runs``: the run record in DynamoDB (item shape, conditional writes, training outcomes).
- ``notify``: the emails sent through the stack's SNS topic.
"""
