"""Write docs/parameters.md from the template's parameters, groups and labels.

python scripts/gen_parameters_doc.py          # rewrite the file
python scripts/gen_parameters_doc.py --check  # exit 1 when the file is stale
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.cfn_template import TEMPLATE_PATH, load_template
from scripts.docgen import write_or_check

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "parameters.md"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _constraint(spec: dict[str, Any]) -> str:
    parts = []
    if "AllowedValues" in spec:
        parts.append("one of " + ", ".join(f"`{v}`" for v in spec["AllowedValues"]))
    if "MinValue" in spec or "MaxValue" in spec:
        parts.append(f"{spec.get('MinValue', '')}..{spec.get('MaxValue', '')}")
    if "AllowedPattern" in spec:
        parts.append(f"pattern `{spec['AllowedPattern']}`")
    if "MaxLength" in spec:
        parts.append(f"at most {spec['MaxLength']} characters")
    return "; ".join(parts) or "-"


def _default(spec: dict[str, Any]) -> str:
    if "Default" not in spec:
        return "**required**"
    value = spec["Default"]
    return f"`{value}`" if value != "" else "(empty)"


def render(template: dict[str, Any]) -> str:
    interface = template["Metadata"]["AWS::CloudFormation::Interface"]
    labels = interface["ParameterLabels"]
    parameters = template["Parameters"]
    lines = [
        "# Stack parameters",
        "",
        "Generated from `template/sagemaker-pipeline.yaml` by `make docs`"
        " (`python scripts/gen_parameters_doc.py`); do not edit by hand: a test fails when it is stale.",
        "",
    ]
    for group in interface["ParameterGroups"]:
        lines += [f"## {group['Label']['default']}", ""]
        lines += ["| Parameter | Label | Default | Allowed | Description |", "|---|---|---|---|---|"]
        for name in group["Parameters"]:
            spec = parameters[name]
            lines.append(
                f"| `{name}` | {_cell(labels[name]['default'])} | {_cell(_default(spec))} "
                f"| {_cell(_constraint(spec))} | {_cell(spec['Description'])} |"
            )
        lines.append("")
    rules = template.get("Rules", {})
    if rules:
        lines += ["## Cross-parameter rules", ""]
        for rule in rules.values():
            for assertion in rule["Assertions"]:
                lines.append(f"- {assertion['AssertDescription']}")
        return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return write_or_check(DOC_PATH, render(load_template(TEMPLATE_PATH)), argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
