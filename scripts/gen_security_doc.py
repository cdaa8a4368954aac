"""Write docs/security.md: the security model in prose plus the census of every policy statement.

python scripts/gen_security_doc.py          # rewrite the file
python scripts/gen_security_doc.py --check  # exit 1 when the file is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.cfn_template import TEMPLATE_PATH, load_template
from scripts.docgen import write_or_check
from scripts.iam_census import statements, wildcard_allow_list

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "security.md"

INTRO = """# Security

Generated from `template/sagemaker-pipeline.yaml` by `python scripts/gen_security_doc.py`
(`make docs`); a test fails when it is stale. The census tests in
`tests/template/test_security_census.py` enforce the rules below.

## The rules

- **One role per service or function.** Five Lambda functions, CodeBuild, CodePipeline and the
  SageMaker jobs each assume their own role and trust exactly one service principal.
- **No wildcard action is granted.** The only `*` actions are the `Deny` statements that make
  every bucket, queue and the topic refuse requests without TLS (`aws:SecureTransport` false).
- **Resources are this stack's ARNs.** SageMaker training jobs, models, endpoint configs and the
  endpoint are created outside CloudFormation, so their ARNs are matched by type and scoped by the
  tag `sagemaker-pipeline:stack = <stack name>`: creation must carry the tag
  (`aws:RequestTag`), every later call needs it on the resource (`aws:ResourceTag`). A function
  of this stack cannot touch another stack's or another team's SageMaker resources.
- **`*` resources only where the API has no resource-level permissions**, each listed below with
  its reason (in the template, in the role's `Metadata.WildcardResources`). A KMS key policy
  always names its own key as `*`.
- **`iam:PassRole`** is granted only for the SageMaker execution role and only towards
  `sagemaker.amazonaws.com`.
- **Encryption**: one customer-managed KMS key with rotation encrypts the buckets (SSE-KMS with
  bucket keys), the table, the topic, the queues, the log groups, the images, the build and the
  pipeline artifacts; training output and volumes use it too. The key and the data are kept on
  stack delete unless `DeleteDataOnStackDelete` is true.
- **Buckets** are versioned, block all public access, enforce bucket-owner object ownership and
  deny plain HTTP.
- **Logs** go to one log group per function (and one for the build) with the retention you
  choose; handlers log JSON lines with ids, never the CodePipeline `artifactCredentials` or raw
  events (tested on events carrying credentials).
- **No secrets**: the GitHub source is a CodeConnections connection, so no token is stored or
  passed; no parameter, default, output or environment variable holds a secret (tested).

## Policy scanner

checkov runs on the template in `make test` with 0 failed checks. Each skipped check is skipped
on one resource, next to it, with the reason written out:

"""


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _cell(value: Any) -> str:
    return _fmt(value).replace("|", "\\|")


def render(template: dict[str, Any]) -> str:
    lines = [INTRO.rstrip("\n"), ""]
    lines += ["| Resource | Check | Reason |", "|---|---|---|"]
    for name, spec in template["Resources"].items():
        for skip in spec.get("Metadata", {}).get("checkov", {}).get("skip", []):
            lines.append(f"| `{name}` | {skip['id']} | {_cell(skip['comment'])} |")
    lines += ["", "## `*` resources and why", "", "| Role | Action | Reason |", "|---|---|---|"]
    for (role, action), reason in wildcard_allow_list(template).items():
        lines.append(f"| `{role}` | `{action}` | {_cell(reason)} |")
    lines += ["", "## Every statement", ""]
    current = None
    for statement in statements(template):
        if statement.holder != current:
            current = statement.holder
            spec = template["Resources"][current]
            description = spec["Properties"].get("Description", "")
            lines += ["", f"### {current} ({spec['Type']})", ""]
            if isinstance(description, str) and description:
                lines += [description, ""]
            lines += ["| Sid | Effect | Actions | Resources | Condition |", "|---|---|---|---|---|"]
        actions = "<br>".join(f"`{a}`" for a in statement.actions)
        resources = "<br>".join(f"`{_cell(r)}`" for r in statement.resources)
        condition = f"`{_cell(statement.condition)}`" if statement.condition else ""
        lines.append(f"| {statement.sid} | {statement.effect} | {actions} | {resources} | {condition} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return write_or_check(DOC_PATH, render(load_template(TEMPLATE_PATH)), argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
