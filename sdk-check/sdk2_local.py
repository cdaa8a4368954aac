"""SageMaker Python SDK 2.x local mode with the image: Estimator fit, deploy, predict (sdk-check/run.py).

Runs in its own virtualenv (requirements-sdk2.txt). Usage: python sdk2_local.py IMAGE DATA_DIR WORK_DIR
Offline: file:// input and output, local code, a LocalSession with fake credentials (set by run.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sagemaker.deserializers import JSONDeserializer
from sagemaker.estimator import Estimator
from sagemaker.local import LocalSession
from sagemaker.serializers import CSVSerializer

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"  # local mode never assumes it
FLOWERS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def main(image: str, data_dir: Path, work_dir: Path, port: int) -> int:
    session = LocalSession()
    session.config = {"local": {"local_code": True, "container_root": str(work_dir), "serving_port": port}}
    estimator = Estimator(
        image_uri=image,
        role=ROLE,
        instance_count=1,
        instance_type="local",
        output_path=f"file://{work_dir}/output",
        hyperparameters={"max_depth": 4},
        sagemaker_session=session,
    )
    # The example reads the `train` channel (the SDK's own default name is `training`).
    estimator.fit({"train": f"file://{data_dir}"})
    print(f"sdk2: trained, model at {estimator.model_data}")
    predictor = estimator.deploy(initial_instance_count=1, instance_type="local")
    try:
        predictor.serializer = CSVSerializer()
        predictor.deserializer = JSONDeserializer()
        predictions = predictor.predict(FLOWERS)
        print(f"sdk2: predicted {predictions}")
        if predictions != [0, 2]:
            print(f"sdk2: expected [0, 2] (setosa, virginica), got {predictions}", file=sys.stderr)
            return 1
    finally:
        predictor.delete_endpoint()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])))
