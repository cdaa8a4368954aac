"""Local mode's price list (localmode/aws/pricing.py): pricing:GetProducts answered from the dated, cited
sample, read by the handlers' own pricing code; an instance type without a sample price is unknown."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from common import pricing
from common.logs import Log

from localmode import ROOT
from localmode.aws.pricing import SAMPLE
from localmode.pipeline.template import load_template
from tests.localmode.conftest import make_client


@pytest.fixture
def price_list(emulator):
    pricing.reset()
    yield make_client("pricing", emulator.url)
    pricing.reset()


def test_the_sample_is_labelled_dated_cited_and_covers_only_types_the_template_allows():
    data = json.loads(SAMPLE.read_text())
    assert data["label"].startswith("SAMPLE") and data["compiled"] and "aws.amazon.com" in data["source"]
    parameters = load_template(ROOT / "template" / "sagemaker-pipeline.yaml")["Parameters"]
    allowed = {
        "Training": set(parameters["TrainingInstanceType"]["AllowedValues"]),
        "Hosting": set(parameters["EndpointInstanceType"]["AllowedValues"]),
    }
    for component, prices in data["prices"].items():
        assert set(prices) <= allowed[component]
        assert all(Decimal(usd) > 0 for usd in prices.values())


def test_the_handlers_read_a_sample_price_labelled_as_a_sample(price_list):
    price = pricing.hourly_price(price_list, "ml.m5.large", "eu-west-1", pricing.TRAINING, Log("test"))
    assert price.usd_per_hour == Decimal("0.115")
    assert price.description.startswith("SAMPLE (us-east-1 on-demand")


def test_a_type_without_a_sample_price_is_unknown(price_list):
    assert pricing.hourly_price(price_list, "ml.g5.xlarge", "eu-west-1", pricing.HOSTING, Log("test")) is None
