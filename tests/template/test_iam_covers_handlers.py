"""Every AWS call a handler's code can make is allowed by that function's role in the template.

The handlers' source is read with `ast`: a call (or a method passed as a callable) whose name is
an operation of a service the handlers use, and each `get_paginator("<operation>")`, becomes an
IAM action; calls into the shared package `common` bring the actions of the functions they reach. A
permission missing from the template would otherwise only show as AccessDenied in a real account.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from scripts.cfn_template import load_template
from scripts.iam_census import statements

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
COMMON_MODULES = {path.stem for path in (LAMBDAS / "common").glob("*.py")}
SERVICES = [
    "sagemaker",
    "sagemaker-runtime",
    "dynamodb",
    "s3",
    "sns",
    "codepipeline",
    "ecr",
    "kms",
    "sqs",
    "logs",
]
# IAM names that differ from the API operation's name.
S3_ACTIONS = {
    "ListObjectVersions": ["s3:ListBucketVersions"],
    "ListObjectsV2": ["s3:ListBucket"],
    "ListObjects": ["s3:ListBucket"],
    "HeadObject": ["s3:GetObject"],
    "HeadBucket": ["s3:ListBucket"],
    "DeleteObjects": ["s3:DeleteObject", "s3:DeleteObjectVersion"],  # versioned deletes need the latter
}


@cache
def operations_by_method() -> dict[str, list[tuple[str, str]]]:
    session = botocore.session.get_session()
    found: dict[str, list[tuple[str, str]]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for operation in model.operation_names:
            found.setdefault(xform_name(operation), []).append((service, operation))
    return found


def iam_actions(service: str, operation: str) -> list[str]:
    if service == "s3" and operation in S3_ACTIONS:
        return S3_ACTIONS[operation]
    prefix = "sagemaker" if service == "sagemaker-runtime" else service
    return [f"{prefix}:{operation}"]


# Python methods that share a name with an operation (re.search); the handlers never call those APIs.
NOT_AWS = {"search"}


class CallFinder(ast.NodeVisitor):
    """Operation names used in one function body, and the names of other functions it calls."""

    def __init__(self) -> None:
        self.operations: set[str] = set()  # client method names
        self.called: set[str] = set()
        self.methods: set[str] = set()

    def _note(self, name: str) -> None:
        self.called.add(name)
        if name in operations_by_method() and name not in NOT_AWS:
            self.operations.add(name)

    def visit_Name(self, node: ast.Name) -> None:  # a module constant used by name
        self.called.add(node.id)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute):
            if node.func.attr == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                self._note(node.args[0].value)
            elif isinstance(node.func.value, ast.Name) and node.func.value.id in COMMON_MODULES:
                # module.function, resolved exactly (or a client named like a module: logs.get_log_events)
                self._note(node.func.attr)
                self.called.add(f"{node.func.value.id}.{node.func.attr}")
            else:
                self._note(node.func.attr)
                self.methods.add(node.func.attr)  # obj.method(): any shared class's method of that name
        elif isinstance(node.func, ast.Name):
            self.called.add(node.func.id)
        for argument in node.args:  # a bound method, or its name for getattr, handed over
            if isinstance(argument, ast.Attribute):
                self._note(argument.attr)
            elif isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                if argument.value in operations_by_method():
                    self._note(argument.value)
        self.generic_visit(node)


def functions_of(path: Path) -> dict[str, CallFinder]:
    """Each function's finder, and each module constant's (``MODELS = ReleaseKind("list_models", ...)``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            finder = CallFinder()
            finder.visit(node)
            found[node.name] = finder
    for node in tree.body:
        if isinstance(node, ast.Assign):
            finder = CallFinder()
            finder.visit(node.value)
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = finder
    return found


def imported_from_common(path: Path) -> dict[str, str]:
    """Names a module imports from the shared package: ``from common.x import y`` maps y to x."""
    names = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("common."):
            for alias in node.names:
                names[alias.asname or alias.name] = node.module.split(".", 1)[1]
    return names


def reachable_operations(module: str) -> set[str]:
    """Operations in the module's functions and in the shared package's functions they reach, by
    name: ``module.function`` exactly, a bare name in its own module or by its import (any other bare
    name is a variable, a parameter or a builtin)."""
    libraries: dict[tuple[str, str], CallFinder] = {}
    imports: dict[str, dict[str, str]] = {}
    for library in sorted((LAMBDAS / "common").glob("*.py")):
        libraries.update({(library.stem, name): f for name, f in functions_of(library).items()})
        imports[library.stem] = imported_from_common(library)
    imports[module] = imported_from_common(LAMBDAS / f"{module}.py")
    pending = [(module, finder) for finder in functions_of(LAMBDAS / f"{module}.py").values()]
    seen: set[tuple[str, str]] = set()
    operations: set[str] = set()

    def resolve(where: str, name: str) -> list[tuple[str, str]]:
        if "." in name:
            owner, _, function = name.partition(".")
            return [(owner, function)] if (owner, function) in libraries else []
        if (where, name) in libraries:
            return [(where, name)]
        if name in imports.get(where, {}) and (imports[where][name], name) in libraries:
            return [(imports[where][name], name)]
        return []  # a local variable, a parameter or a builtin

    by_name: dict[str, list[tuple[str, str]]] = {}
    for key in libraries:
        by_name.setdefault(key[1], []).append(key)

    while pending:
        where, finder = pending.pop()
        operations |= finder.operations
        reached = [key for name in finder.called for key in resolve(where, name)]
        reached += [key for name in finder.methods for key in by_name.get(name, [])]
        for key in reached:
            if key not in seen:
                seen.add(key)
                pending.append((key[0], libraries[key]))
    return operations


def granted_actions() -> dict[str, set[str]]:
    template = load_template()
    by_role: dict[str, set[str]] = {}
    for statement in statements(template):
        if statement.effect == "Allow" and statement.holder_type == "AWS::IAM::Role":
            by_role.setdefault(statement.holder, set()).update(statement.actions)
    granted = {}
    for spec in template["Resources"].values():
        if spec["Type"] == "AWS::Lambda::Function":
            module = spec["Properties"]["Handler"].split(".")[0]
            role = spec["Properties"]["Role"]["Fn::GetAtt"][0]
            granted[module] = by_role[role]
    return granted


GRANTED = granted_actions()


@pytest.mark.parametrize("module", sorted(GRANTED))
def test_role_allows_every_call_the_handler_makes(module):
    needed = reachable_operations(module)
    assert needed, f"no AWS calls found in {module}: the scanner is broken"
    missing = sorted(
        method
        for method in needed
        if not any(  # a name several services share (delete_endpoint) needs one of them allowed
            action in GRANTED[module]
            for service, operation in operations_by_method()[method]
            for action in iam_actions(service, operation)
        )
    )
    assert not missing, f"{module} calls {missing} but its role does not allow them"


def test_the_scanner_sees_known_calls():
    assert "create_training_job" in reachable_operations("train_trigger")
    assert "put_job_success_result" in reachable_operations("train_trigger")
    assert "delete_endpoint" in reachable_operations("teardown")
    assert {"list_models", "delete_endpoint_config"} <= reachable_operations("deploy_endpoint")  # constants
    assert "head_object" in reachable_operations("train_trigger")  # through common.runs
    assert {"describe_log_streams", "get_log_events"} <= reachable_operations("job_events")  # common.runs
