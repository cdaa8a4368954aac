"""pricing:GetProducts in local mode, answered from a dated, cited sample (data/sagemaker_price_sample.json)
in the Price List's own shape, so the handlers' pricing code runs unmodified. Nothing is fetched.

Only ServiceCode AmazonSageMaker with TERM_MATCH filters on regionCode, instanceName and component is
answered; an instance type the sample does not list has no product (the handlers show "unknown"). Each
price dimension's description says it is a sample, of which region and from when.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from localmode.aws.awsmodel import ApiError

SAMPLE = Path(__file__).resolve().parent / "data" / "sagemaker_price_sample.json"
FILTER_FIELDS = ("regionCode", "instanceName", "component")


@cache
def sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text())


def product(instance_type: str, component: str, region: str, usd: str) -> str:
    data = sample()
    sku = f"LOCAL-{component}-{instance_type}-{region}".upper()
    page = data["source"].split(" ", 1)[0]
    description = (
        f"SAMPLE ({data['region']} on-demand, {page}, compiled {data['compiled']}): "
        f"${usd} per On Demand {instance_type}-{component} hour"
    )
    return json.dumps(
        {
            "product": {
                "productFamily": "ML Instance",
                "sku": sku,
                "attributes": {
                    "servicecode": "AmazonSageMaker",
                    "regionCode": region,
                    "instanceName": instance_type,
                    "component": component,
                },
            },
            "serviceCode": "AmazonSageMaker",
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "sku": sku,
                        "effectiveDate": f"{data['compiled']}T00:00:00Z",
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "description": description,
                                "pricePerUnit": {"USD": usd},
                            }
                        },
                    }
                }
            },
        }
    )


def get_products(params: dict[str, Any]) -> dict[str, Any]:
    if params["ServiceCode"] != "AmazonSageMaker":
        return {"FormatVersion": "aws_v1", "PriceList": []}
    wanted = {item["Field"]: item["Value"] for item in params.get("Filters", [])}
    unknown = set(wanted) - set(FILTER_FIELDS)
    if unknown:
        raise ApiError(
            "InvalidParameterException", f"local mode's price sample cannot filter on {sorted(unknown)}"
        )
    region = wanted.get("regionCode", sample()["region"])
    found = [
        product(instance_type, component, region, usd)
        for component, prices in sample()["prices"].items()
        if wanted.get("component", component) == component
        for instance_type, usd in prices.items()
        if wanted.get("instanceName", instance_type) == instance_type
    ]
    return {"FormatVersion": "aws_v1", "PriceList": found[: params.get("MaxResults", 100)]}


class LocalPriceList:
    """The AWSPriceListService target of the emulator."""

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation != "GetProducts":
            raise ApiError(
                "UnknownOperationException", f"local mode's price list does not implement {operation}"
            )
        return get_products(params)
