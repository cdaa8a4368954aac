"""SageMaker Python SDK 3.x with the image: ModelTrainer in LOCAL_CONTAINER mode, then a local endpoint.

Runs in its own virtualenv (requirements-sdk3.txt). Usage: python sdk3_local.py IMAGE DATA_DIR WORK_DIR PORT

Training: ModelTrainer(training_mode=Mode.LOCAL_CONTAINER) given only the image. Its compose file
has neither command nor entrypoint, so the image's ENTRYPOINT (smp-dispatch) picks `train`.
Serving: 3.x's ModelBuilder LOCAL_CONTAINER mode drives its own model servers (TorchServe, MMS,
TGI, ...) and always pulls the image, so a bring-your-own image is served through the local-mode
clients 3.x ships in sagemaker.core.local (create_model / create_endpoint / invoke_endpoint, as boto3).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sagemaker.core.local import LocalSession
from sagemaker.core.training.configs import Compute, InputData
from sagemaker.train.model_trainer import Mode, ModelTrainer

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"  # local mode never assumes it
FLOWERS = b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3"


def train(image: str, data_dir: Path, work_dir: Path) -> str:
    trainer = ModelTrainer(
        training_image=image,
        training_mode=Mode.LOCAL_CONTAINER,
        role=ROLE,
        compute=Compute(instance_type="local_cpu", instance_count=1),
        hyperparameters={"max_depth": 4},
        local_container_root=str(work_dir),
    )
    # The example reads the `train` channel (SageMaker's usual name is `training`).
    trainer.train(input_data_config=[InputData(channel_name="train", data_source=str(data_dir))])
    model = work_dir / "compressed_artifacts" / "model.tar.gz"
    if not model.is_file():
        raise SystemExit(f"sdk3: training finished without {model}")
    print(f"sdk3: trained, model at {model}")
    return f"file://{model}"


def serve_and_predict(image: str, model_data: str, work_dir: Path, port: int) -> list[int]:
    session = LocalSession()
    session.config = {"local": {"local_code": True, "container_root": str(work_dir), "serving_port": port}}
    client, runtime = session.sagemaker_client, session.sagemaker_runtime_client
    client.create_model(
        ModelName="iris",
        PrimaryContainer={"Image": image, "ModelDataUrl": model_data, "Environment": {}},
        ExecutionRoleArn=ROLE,
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "iris",
        "InitialInstanceCount": 1,
        "InstanceType": "local",
    }
    client.create_endpoint_config(EndpointConfigName="iris", ProductionVariants=[variant])
    client.create_endpoint(EndpointName="iris", EndpointConfigName="iris")
    try:
        response = runtime.invoke_endpoint(
            EndpointName="iris", Body=FLOWERS, ContentType="text/csv", Accept="application/json"
        )
        return json.loads(response["Body"].read())
    finally:
        client.delete_endpoint(EndpointName="iris")


def main(image: str, data_dir: Path, work_dir: Path, port: int) -> int:
    model_data = train(image, data_dir, work_dir)
    predictions = serve_and_predict(image, model_data, work_dir, port)
    print(f"sdk3: predicted {predictions}")
    if predictions != [0, 2]:
        print(f"sdk3: expected [0, 2] (setosa, virginica), got {predictions}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])))
