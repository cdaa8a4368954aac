"""Every environment-variable name the runtime reads or sets, in one place."""

# Read by the runtime.
SAGEMAKER_BASE_DIR = "SAGEMAKER_BASE_DIR"  # overrides the /opt/ml root (tests, local mode)
SAGEMAKER_BIND_TO_PORT = "SAGEMAKER_BIND_TO_PORT"  # serving port, default 8080
SAGEMAKER_MAX_PAYLOAD_IN_MB = "SAGEMAKER_MAX_PAYLOAD_IN_MB"  # request body limit, default 6
MODEL_SERVER_WORKERS = "MODEL_SERVER_WORKERS"  # worker processes, default = CPU cores
MODEL_SERVER_TIMEOUT = "MODEL_SERVER_TIMEOUT"  # seconds to finish in-flight requests on SIGTERM
MODEL_SERVER_MAX_BATCH_SIZE = "MODEL_SERVER_MAX_BATCH_SIZE"  # requests per predict call; 0 or 1 = no batching
MODEL_SERVER_MAX_BATCH_DELAY_MS = "MODEL_SERVER_MAX_BATCH_DELAY_MS"  # wait for a batch to fill; 0 = adaptive
SMP_USER_PACKAGE = "SMP_USER_PACKAGE"  # picks the user's distribution when several declare entry points

# Set for the user's training function (names of the SageMaker training toolkit).
SM_MODEL_DIR = "SM_MODEL_DIR"
SM_INPUT_DIR = "SM_INPUT_DIR"
SM_INPUT_CONFIG_DIR = "SM_INPUT_CONFIG_DIR"
SM_OUTPUT_DIR = "SM_OUTPUT_DIR"
SM_OUTPUT_DATA_DIR = "SM_OUTPUT_DATA_DIR"
SM_CHANNELS = "SM_CHANNELS"
SM_CHANNEL_PREFIX = "SM_CHANNEL_"
SM_HPS = "SM_HPS"
SM_HP_PREFIX = "SM_HP_"
SM_CURRENT_HOST = "SM_CURRENT_HOST"
SM_HOSTS = "SM_HOSTS"
SM_NUM_CPUS = "SM_NUM_CPUS"
SM_INPUT_DATA_CONFIG = "SM_INPUT_DATA_CONFIG"
SM_RESOURCE_CONFIG = "SM_RESOURCE_CONFIG"
