"""Naming and instance-type rules for what a run creates (docs/contracts.md).

A training job, model and endpoint config of a run share one name: the stack name (non
alphanumerics as hyphens, at most 26 characters), a hyphen and the CodePipeline execution id,
which SageMaker accepts (at most 63 characters of letters, digits and single hyphens).
This module imports nothing of the project or AWS, so the launch script's checks share its rules.
"""

from __future__ import annotations

import hashlib
import re

RESOURCE_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# SageMaker instance types: ml.<family>.<size>, e.g. ml.m5.large, ml.g4dn.xlarge, ml.p4d.24xlarge.
INSTANCE_TYPE_PATTERN = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")
# Families with local NVMe instance storage: SageMaker trains on it (encrypted by the instance's
# hardware) and rejects a ResourceConfig.VolumeKmsKeyId for them (CreateTrainingJob reference).
NVME_INSTANCE_FAMILIES = frozenset({"m5d", "c5d", "r5d", "g4dn", "p3dn", "p4d", "g5", "m6id", "c6id", "r6id"})
_EXECUTION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,35}$")
_STACK_PART_CHARS = 26


def _stack_part(stack_name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]", "-", stack_name)[:_STACK_PART_CHARS]


def resource_name(stack_name: str, execution_id: str, attempt: int = 1) -> str:
    """Training job / model / endpoint config name for a pipeline execution.

    Attempt 1 is the plain name; attempt N > 1 replaces the tail of the id with ``-rN``.
    """
    if not _EXECUTION_ID_PATTERN.match(execution_id or ""):
        raise ValueError(f"execution id {execution_id!r} is not a CodePipeline execution id")
    name = f"{_stack_part(stack_name)}-{execution_id}"
    if attempt > 1:
        suffix = f"-r{attempt}"
        name = name[: 63 - len(suffix)].rstrip("-") + suffix
    if not RESOURCE_NAME_PATTERN.match(name):
        raise ValueError(f"stack name {stack_name!r} does not give a valid SageMaker resource name")
    return name


def resource_prefix(stack_name: str) -> str:
    """The leading part every ``resource_name`` of this stack shares (for NameContains filters)."""
    return f"{_stack_part(stack_name)}-"


def model_package_group(stack_name: str) -> str:
    """The stack's model package group: ``<first 20 of the stack part>-<8 hex of the stack name's
    SHA-256>-models`` (at most 36 characters). The hash keeps two stacks whose names share a long
    prefix from sharing a registry."""
    digest = hashlib.sha256(stack_name.encode()).hexdigest()[:8]
    return f"{_stack_part(stack_name)[:20].rstrip('-')}-{digest}-models"


def has_local_nvme_storage(instance_type: str) -> bool:
    """True for ml.<family>.<size> types whose family has local NVMe instance storage."""
    if not INSTANCE_TYPE_PATTERN.fullmatch(instance_type):
        return False
    return instance_type.split(".")[1] in NVME_INSTANCE_FAMILIES
