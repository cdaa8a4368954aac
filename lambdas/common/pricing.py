"""What a run cost: the on-demand price of its instance types from the AWS Price List API, times the
billable training seconds and the instance count, and the endpoint's hourly price.

The Price List Query API is served from three regions only (us-east-1, eu-central-1, ap-south-1), so
the client is built for the nearest of them whatever the stack's region; the product is filtered by the
stack's region. pricing:GetProducts has no resource-level permission (it is granted on "*"). Prices are
cached per execution environment. An unknown price is None, shown as "unknown", never guessed.

Training cost = billable seconds x instance count x hourly price / 3600, plus the retained seconds of a
warm pool (``retained_seconds``: TrainingWarmPoolSeconds' KeepAlivePeriodInSeconds, as DescribeTrainingJob's
WarmPoolStatus reports it) at the same price.
BillableTimeInSeconds already carries the managed-spot discount; the saving is reported from it against
TrainingTimeInSeconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from common import clients
from common.errors import describe_error
from common.logs import Log

PRICING_REGIONS = {"eu": "eu-central-1", "me": "eu-central-1", "af": "eu-central-1", "ap": "ap-south-1"}
DEFAULT_PRICING_REGION = "us-east-1"
TRAINING = "Training"
HOSTING = "Hosting"
UNKNOWN = "unknown"

_cache: dict[tuple[str, str, str], Price | None] = {}


@dataclass(frozen=True)
class Price:
    usd_per_hour: Decimal
    description: str  # the price dimension's own words, e.g. "$0.115 per On Demand ml.m5.large-Training hour"


def pricing_region(stack_region: str) -> str:
    """The Price List endpoint region nearest to ``stack_region``."""
    return PRICING_REGIONS.get(stack_region.split("-", 1)[0], DEFAULT_PRICING_REGION)


def pricing_client(stack_region: str) -> Any:
    """A pricing client in the Price List endpoint region nearest to the stack's."""
    return clients.client("pricing", pricing_region(stack_region))


def reset() -> None:
    _cache.clear()


def hourly_price(pricing: Any, instance_type: str, region: str, component: str, log: Log) -> Price | None:
    """The on-demand USD hourly price of ``instance_type`` for ``component`` (Training | Hosting) in
    ``region``; None when the Price List has no single such price or cannot be reached."""
    key = (region, instance_type, component)
    if key in _cache:
        return _cache[key]
    try:
        response = pricing.get_products(
            ServiceCode="AmazonSageMaker",
            Filters=[
                {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
                {"Type": "TERM_MATCH", "Field": "instanceName", "Value": instance_type},
                {"Type": "TERM_MATCH", "Field": "component", "Value": component},
            ],
            FormatVersion="aws_v1",
            MaxResults=10,
        )
    except (ClientError, BotoCoreError) as error:
        log.warning("price unknown: the Price List API refused or failed", error=describe_error(error))
        return None  # not cached: a later call may succeed
    prices = {price for entry in response.get("PriceList", []) for price in on_demand_prices(entry)}
    found = prices.pop() if len(prices) == 1 else None
    if found is None:
        log.info(
            "price unknown", instance_type=instance_type, component=component, candidates=len(prices) + 1
        )
    _cache[key] = found
    return found


def on_demand_prices(entry: Any) -> list[Price]:
    """The hourly USD on-demand prices in one PriceList entry (a JSON string, as the API returns it)."""
    try:
        product = json.loads(entry) if isinstance(entry, str) else entry
        terms = product["terms"]["OnDemand"]
    except (ValueError, KeyError, TypeError):
        return []
    found = []
    for term in terms.values() if isinstance(terms, Mapping) else []:
        for dimension in (term.get("priceDimensions") or {}).values():
            if str(dimension.get("unit", "")).lower() not in ("hrs", "hour", "hours"):
                continue
            try:
                usd = Decimal(str(dimension["pricePerUnit"]["USD"]))
            except (KeyError, TypeError, InvalidOperation):
                continue
            if usd > 0:
                found.append(Price(usd, str(dimension.get("description", ""))[:200]))
    return found


@dataclass(frozen=True)
class RunCost:
    training_usd: Decimal | None
    training_price: Price | None
    endpoint_usd_per_hour: Decimal | None
    endpoint_price: Price | None
    spot_savings_percent: Decimal | None

    def as_item(self) -> dict[str, Any]:
        """The run record's ``cost`` map: numbers as Decimal, unknown values as "unknown"."""
        return {
            "training_usd": self.training_usd if self.training_usd is not None else UNKNOWN,
            "training_price": describe(self.training_price),
            "endpoint_usd_per_hour": self.endpoint_usd_per_hour
            if self.endpoint_usd_per_hour is not None
            else UNKNOWN,
            "endpoint_price": describe(self.endpoint_price),
            **(
                {"spot_savings_percent": self.spot_savings_percent}
                if self.spot_savings_percent is not None
                else {}
            ),
        }


def describe(price: Price | None) -> str:
    return f"{price.usd_per_hour} USD/hour ({price.description})" if price else UNKNOWN


def training_cost(
    price: Price | None, billable_seconds: Any, instance_count: Any, retained_seconds: int = 0
) -> Decimal | None:
    """USD for ``billable_seconds`` (+ a warm pool's ``retained_seconds``) on ``instance_count``
    instances, to the cent's hundredth; None when the price or the seconds are unknown."""
    if price is None or not _whole(billable_seconds) or not _whole(instance_count) or int(instance_count) < 1:
        return None
    seconds = int(billable_seconds) + max(int(retained_seconds), 0)
    usd = price.usd_per_hour * seconds * int(instance_count) / 3600
    return usd.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def spot_savings_percent(training_seconds: Any, billable_seconds: Any) -> Decimal | None:
    """Managed spot's saving, as SageMaker computes it: 1 - billable / training time."""
    if not _whole(training_seconds) or not _whole(billable_seconds) or int(training_seconds) <= 0:
        return None
    saving = (1 - Decimal(int(billable_seconds)) / int(training_seconds)) * 100
    return saving.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) if saving > 0 else None


def _whole(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return False
    return number.is_finite() and number >= 0 and number == number.to_integral_value()


def run_cost(
    pricing: Any,
    region: str,
    training: Mapping[str, Any],
    endpoint_instance_type: str,
    endpoint_instance_count: Any,
    log: Log,
    retained_seconds: int = 0,
) -> RunCost:
    """The cost of one run from its training facts (``instance_type``, ``instance_count``,
    ``billable_seconds``, ``training_seconds``) and the endpoint's instance type and count."""
    training_price = (
        hourly_price(pricing, str(training["instance_type"]), region, TRAINING, log)
        if training.get("instance_type")
        else None
    )
    endpoint_price = (
        hourly_price(pricing, endpoint_instance_type, region, HOSTING, log)
        if endpoint_instance_type
        else None
    )
    endpoint_hourly = None
    if endpoint_price is not None and _whole(endpoint_instance_count) and int(endpoint_instance_count) >= 1:
        endpoint_hourly = endpoint_price.usd_per_hour * int(endpoint_instance_count)
    return RunCost(
        training_usd=training_cost(
            training_price, training.get("billable_seconds"), training.get("instance_count"), retained_seconds
        ),
        training_price=training_price,
        endpoint_usd_per_hour=endpoint_hourly,
        endpoint_price=endpoint_price,
        spot_savings_percent=spot_savings_percent(
            training.get("training_seconds"), training.get("billable_seconds")
        ),
    )
