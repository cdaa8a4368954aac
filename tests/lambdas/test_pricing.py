"""Cost per run (lambdas/common/pricing.py): the Price List API called in its own region, its answer
parsed, cached, and an unknown price left unknown."""

from __future__ import annotations

import json
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber
from common import pricing
from common.logs import Log

LOG = Log("test")


def price_entry(usd: str, unit: str = "Hrs") -> str:
    return json.dumps(
        {
            "product": {"attributes": {"instanceName": "ml.m5.large", "component": "Training"}},
            "terms": {
                "OnDemand": {
                    "T1": {
                        "priceDimensions": {
                            "D1": {
                                "unit": unit,
                                "description": f"${usd} per On Demand ml.m5.large-Training hour",
                                "pricePerUnit": {"USD": usd},
                            }
                        }
                    }
                }
            },
        }
    )


@pytest.fixture(autouse=True)
def empty_cache():
    pricing.reset()
    yield
    pricing.reset()


def stubbed(*answers):
    client = boto3.client("pricing", region_name="us-east-1")
    stubber = Stubber(client)
    for answer in answers:
        if isinstance(answer, str):
            stubber.add_client_error("get_products", service_error_code=answer, http_status_code=400)
        else:
            stubber.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": answer})
    stubber.activate()
    return client, stubber


@pytest.mark.parametrize(
    ("stack_region", "endpoint_region"),
    [
        ("eu-west-1", "eu-central-1"),
        ("us-west-2", "us-east-1"),
        ("ap-northeast-1", "ap-south-1"),
        ("sa-east-1", "us-east-1"),
    ],
)
def test_the_price_list_is_called_in_one_of_its_three_regions(stack_region, endpoint_region, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", stack_region)
    assert pricing.pricing_region(stack_region) == endpoint_region
    assert pricing.pricing_client(stack_region).meta.region_name == endpoint_region


def test_the_request_filters_the_stack_region_the_type_and_the_component_and_is_cached():
    client = boto3.client("pricing", region_name="us-east-1")
    stubber = Stubber(client)
    expected = {
        "ServiceCode": "AmazonSageMaker",
        "Filters": [
            {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"},
            {"Type": "TERM_MATCH", "Field": "instanceName", "Value": "ml.m5.large"},
            {"Type": "TERM_MATCH", "Field": "component", "Value": "Training"},
        ],
        "FormatVersion": "aws_v1",
        "MaxResults": 10,
    }
    stubber.add_response("get_products", {"PriceList": [price_entry("0.128")]}, expected)
    stubber.activate()
    first = pricing.hourly_price(client, "ml.m5.large", "eu-west-1", pricing.TRAINING, LOG)
    second = pricing.hourly_price(client, "ml.m5.large", "eu-west-1", pricing.TRAINING, LOG)  # from the cache
    stubber.assert_no_pending_responses()
    assert first == second and first.usd_per_hour == Decimal("0.128")
    assert "ml.m5.large-Training" in first.description


@pytest.mark.parametrize(
    "answer",
    [
        [],  # no product
        [price_entry("0.1"), price_entry("0.2")],  # two prices: ambiguous
        [price_entry("0.1", unit="Quantity")],  # not an hourly price
        ["not json"],
        "AccessDeniedException",  # the grant is missing
        "ThrottlingException",
    ],
)
def test_an_unknown_price_is_none_never_invented(answer):
    client, _ = stubbed(answer)
    assert pricing.hourly_price(client, "ml.m5.large", "eu-west-1", pricing.TRAINING, LOG) is None


def test_a_refused_lookup_is_not_cached_so_a_later_call_can_succeed():
    client, _ = stubbed("AccessDeniedException", [price_entry("0.115")])
    assert pricing.hourly_price(client, "ml.m5.large", "us-east-1", pricing.TRAINING, LOG) is None
    assert pricing.hourly_price(
        client, "ml.m5.large", "us-east-1", pricing.TRAINING, LOG
    ).usd_per_hour == Decimal("0.115")


def test_training_cost_is_billable_seconds_times_count_times_price_plus_a_warm_pool():
    price = pricing.Price(Decimal("0.36"), "")
    assert pricing.training_cost(price, 100, 2) == Decimal("0.0200")
    assert pricing.training_cost(price, 100, 2, retained_seconds=3600) == Decimal("0.7400")
    assert pricing.training_cost(None, 100, 2) is None
    for seconds, count in [(None, 1), ("x", 1), (1.5, 1), (100, 0), (True, 1)]:
        assert pricing.training_cost(price, seconds, count) is None


def test_spot_savings_come_from_billable_against_training_time():
    assert pricing.spot_savings_percent(1000, 300) == Decimal("70.0")
    assert pricing.spot_savings_percent(1000, 1000) is None
    assert pricing.spot_savings_percent(None, 300) is None


def test_run_cost_has_the_training_cost_and_the_endpoint_hourly_price_or_unknown():
    client, _ = stubbed([price_entry("0.115")], [])
    cost = pricing.run_cost(
        client,
        "us-east-1",
        {
            "instance_type": "ml.m5.large",
            "instance_count": 1,
            "billable_seconds": 3600,
            "training_seconds": 3600,
        },
        "ml.t2.medium",
        2,
        LOG,
    )
    item = cost.as_item()
    assert item["training_usd"] == Decimal("0.1150")
    assert item["endpoint_usd_per_hour"] == "unknown" and item["endpoint_price"] == "unknown"
    assert "spot_savings_percent" not in item
