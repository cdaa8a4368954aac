"""The stack's optional VPC placement (SubnetIds, SecurityGroupIds) as SageMaker's VpcConfig.

Training jobs and models get the same subnets and security groups; with neither set nothing is
placed in a VPC (SageMaker's own network, the default). One without the other is refused: SageMaker
needs both, and silently dropping the one given would run outside the network the owner asked for.
"""

from __future__ import annotations

from typing import Any

from common.errors import ConfigurationError
from common.settings import env_list


def vpc_config_from_environment() -> dict[str, Any] | None:
    """VpcConfig for CreateTrainingJob and CreateModel from SUBNET_IDS and SECURITY_GROUP_IDS."""
    subnets, groups = env_list("SUBNET_IDS"), env_list("SECURITY_GROUP_IDS")
    if not subnets and not groups:
        return None
    if not subnets or not groups:
        missing, given = ("SecurityGroupIds", "SubnetIds") if subnets else ("SubnetIds", "SecurityGroupIds")
        raise ConfigurationError(
            f"{given} is set but {missing} is empty: SageMaker's VpcConfig needs both. "
            f"Set {missing} or clear {given}"
        )
    return {"Subnets": list(subnets), "SecurityGroupIds": list(groups)}
