"""Local mode's moto refuses what CloudFormation refuses and moto does not: a TemplateBody over
51,200 bytes (CreateStack API reference, TemplateBody length constraint)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from localmode.aws.strict_moto import TEMPLATE_BODY_MAX_BYTES
from tests.localmode.conftest import make_client


def padded(size: int) -> str:
    """A valid template of ``size`` bytes (padding in Metadata)."""
    empty = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Metadata": {"Padding": ""}}
    return json.dumps({**empty, "Metadata": {"Padding": "y" * (size - len(json.dumps(empty)))}})


def test_a_template_body_of_exactly_the_limit_is_taken(moto_url):
    body = padded(TEMPLATE_BODY_MAX_BYTES)
    assert len(body.encode()) == TEMPLATE_BODY_MAX_BYTES
    make_client("cloudformation", moto_url).validate_template(TemplateBody=body)


def test_a_template_body_over_the_limit_is_refused_as_aws_refuses_it(moto_url):
    body = padded(TEMPLATE_BODY_MAX_BYTES + 1)
    with pytest.raises(ClientError) as refused:
        make_client("cloudformation", moto_url).create_stack(StackName="too-big", TemplateBody=body)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "less than or equal to 51200" in refused.value.response["Error"]["Message"]
