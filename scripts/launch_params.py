"""Check the launch script's stack parameters against the template before any AWS call.

The template is the one source of truth for what a valid value is (AllowedValues, AllowedPattern,
Min/Max); a few type checks (e-mail, ml.* instance types, JSON, booleans) back it up so a bad
value fails here with a message naming the flag or variable it came from.

Input comes from the environment, never the command line, so values do not show up in `ps`:
SMP_PARAM_<Name> holds a value, SMP_ORIGIN_<Name> says where it came from ("--notification-email",
"SMP_NOTIFICATION_EMAIL", "pipeline.env line 3"), SMP_CURRENT_<Name> an existing stack's value.
The template's Rules are checked too, on the values the stack would have (the supplied ones over
the defaults for a new stack, over SMP_CURRENT_* for an update; a rule on an unknown value is
left to CloudFormation).

    python -m scripts.launch_params --template T                      check values only
    python -m scripts.launch_params --template T --stack-name S       also the names derived from S
        (the pipeline, at most 100 characters; the default endpoint S-endpoint, at most 63)
    python -m scripts.launch_params --template T --new-stack --out F  also require parameters
        without a default, print the values, write F for `aws cloudformation deploy
        --parameter-overrides file://F`
    python -m scripts.launch_params --template T --new-stack --set-later LambdaCodeBucket ...
        the same check before the deploy's first AWS write: the named parameters count as given
        (the deploy sets them once the code is uploaded)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lambdas.common.names import INSTANCE_TYPE_PATTERN
from scripts.cfn_template import load_template

VALUE_PREFIX = "SMP_PARAM_"
ORIGIN_PREFIX = "SMP_ORIGIN_"
CURRENT_PREFIX = "SMP_CURRENT_"  # an existing stack's current values (an update keeps them)

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
BOOLEAN_PARAMETERS = {"UseSpotTraining", "DeployEndpoint", "RequireManualApproval", "DeleteDataOnStackDelete"}
JSON_PARAMETERS = {"Hyperparameters": dict, "MetricDefinitions": list}
SECRET_LOOKING = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|(AKIA|ASIA)[A-Z0-9]{16}"  # AWS access key ids
    r"|-----BEGIN [A-Z ]*PRIVATE KEY"
)


@dataclass(frozen=True)
class Supplied:
    name: str
    value: str
    origin: str


def load_parameter_specs(template: Path) -> dict[str, dict[str, Any]]:
    parameters = (load_template(template) or {}).get("Parameters") or {}
    if not isinstance(parameters, dict):
        raise ValueError(f"{template}: Parameters is not a mapping")
    return parameters


def supplied_from_environment(environ: Mapping[str, str]) -> list[Supplied]:
    supplied = []
    for variable, value in sorted(environ.items()):
        if variable.startswith(VALUE_PREFIX):
            name = variable[len(VALUE_PREFIX) :]
            supplied.append(Supplied(name, value, environ.get(ORIGIN_PREFIX + name, variable)))
    return supplied


def as_text(value: Any) -> str:
    """A template literal as CloudFormation sees it (YAML reads `true` as a bool, `1` as an int)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def looks_secret(value: str) -> bool:
    return bool(SECRET_LOOKING.search(value))


def shown(value: str, spec: Mapping[str, Any]) -> str:
    if spec.get("NoEcho") in (True, "true") or looks_secret(value):
        return "****"
    return repr(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _template_problems(value: str, spec: Mapping[str, Any]) -> Iterator[str]:
    if spec.get("Type") == "Number":
        number = _number(value)
        if number is None:
            yield "is not a number"
            return
        if "MinValue" in spec and number < float(spec["MinValue"]):
            yield f"is below the minimum {as_text(spec['MinValue'])}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            yield f"is above the maximum {as_text(spec['MaxValue'])}"
    allowed = [as_text(choice) for choice in spec.get("AllowedValues") or []]
    if allowed and value not in allowed:
        yield "is not one of the allowed values: " + ", ".join(allowed)
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        yield f"is shorter than {spec['MinLength']} characters"
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        yield f"is longer than {spec['MaxLength']} characters"
    pattern = spec.get("AllowedPattern")
    if pattern is not None:
        try:
            matches = re.fullmatch(str(pattern), value) is not None
        except re.error:
            matches = True  # a Java-only construct; CloudFormation itself still checks it
        if not matches:
            yield f"does not match the pattern {pattern}"


def _type_problems(name: str, value: str) -> Iterator[str]:
    if name == "NotificationEmail" and not EMAIL.fullmatch(value):
        yield "is not an e-mail address"
    if name.endswith("InstanceType") and not INSTANCE_TYPE_PATTERN.fullmatch(value):
        yield "is not a SageMaker instance type (ml.<family>.<size>)"
    if name in BOOLEAN_PARAMETERS and value not in ("true", "false"):
        yield "must be true or false"
    if name in JSON_PARAMETERS:
        expected = JSON_PARAMETERS[name]
        try:
            decoded = json.loads(value)
        except ValueError as error:
            yield f"is not valid JSON ({error})"
        else:
            if not isinstance(decoded, expected):
                yield "must be a JSON " + ("object" if expected is dict else "array")


def problems(supplied: Supplied, spec: Mapping[str, Any]) -> list[str]:
    """What is wrong with one value; the type checks first, they give the plainer message."""
    found = list(_type_problems(supplied.name, supplied.value)) or list(
        _template_problems(supplied.value, spec)
    )
    hint = spec.get("ConstraintDescription")
    expected = f". Expected: {hint}" if hint else ""
    value = shown(supplied.value, spec)
    return [f"{supplied.origin}: {supplied.name} {value} {problem}{expected}" for problem in found]


def check(
    supplied: list[Supplied],
    specs: Mapping[str, Mapping[str, Any]],
    new_stack: bool,
    set_later: frozenset[str] = frozenset(),
) -> list[str]:
    """Every problem of the supplied values; with ``new_stack`` also the parameters that have no
    default and are neither supplied nor in ``set_later`` (set by the caller after this check)."""
    errors: list[str] = []
    given = {item.name for item in supplied} | set_later
    for item in supplied:
        if item.name not in specs:
            errors.append(f"{item.origin}: the template has no parameter {item.name}")
            continue
        errors.extend(problems(item, specs[item.name]))
    if new_stack:
        missing = [name for name, spec in specs.items() if "Default" not in spec and name not in given]
        errors.extend(f"{name} is required for a new stack and has no default" for name in missing)
    return errors


class _Unknown(Exception):
    """A rule refers to a value or function this checker does not know: CloudFormation checks it."""


def _evaluate(node: Any, values: Mapping[str, str]) -> Any:
    if isinstance(node, dict) and len(node) == 1:
        [(name, argument)] = node.items()
        if name == "Ref" and argument in values:
            return values[argument]
        if name == "Fn::Equals":
            left, right = (as_text(_evaluate(item, values)) for item in argument)
            return left == right
        if name == "Fn::Not":
            return not _evaluate(argument[0], values)
        if name == "Fn::And":
            return all(_evaluate(item, values) for item in argument)
        if name == "Fn::Or":
            return any(_evaluate(item, values) for item in argument)
        raise _Unknown(name)
    if isinstance(node, str | int | float | bool):
        return node
    raise _Unknown(type(node).__name__)


def rule_problems(rules: Mapping[str, Any], values: Mapping[str, str]) -> list[str]:
    """The template's Rules (cross-parameter assertions) that the stack's values would break."""
    errors: list[str] = []
    for name, rule in rules.items():
        try:
            if not _evaluate(rule.get("RuleCondition", True), values):
                continue
            for assertion in rule.get("Assertions", []):
                if not _evaluate(assertion["Assert"], values):
                    errors.append(f"{assertion.get('AssertDescription', 'breaks')} (template rule {name})")
        except _Unknown:
            continue
    return errors


PIPELINE_NAME_LIMIT = 100  # CodePipeline; the template names the pipeline after the stack
ENDPOINT_NAME_LIMIT = 63  # SageMaker; the template's default EndpointName is <stack name>-endpoint
DEFAULT_ENDPOINT_SUFFIX = "-endpoint"


def name_problems(stack_name: str, values: Mapping[str, str]) -> list[str]:
    """Names the template derives from the stack name that AWS would refuse (Rules cannot measure
    a length, so this is checked here, and the deploy handler checks the endpoint name again)."""
    errors: list[str] = []
    if len(stack_name) > PIPELINE_NAME_LIMIT:
        errors.append(
            f"stack name {stack_name[:20]}... is {len(stack_name)} characters: the pipeline is named after "
            f"the stack and CodePipeline allows at most {PIPELINE_NAME_LIMIT}; use a shorter --stack-name"
        )
    default_endpoint = stack_name + DEFAULT_ENDPOINT_SUFFIX
    if (
        values.get("DeployEndpoint") == "true"
        and values.get("EndpointName") == ""
        and len(default_endpoint) > ENDPOINT_NAME_LIMIT
    ):
        errors.append(
            f"stack name {stack_name[:20]}... is {len(stack_name)} characters: the default EndpointName "
            f"<stack name>{DEFAULT_ENDPOINT_SUFFIX} would be {len(default_endpoint)} and SageMaker allows at "
            f"most {ENDPOINT_NAME_LIMIT}; set EndpointName (--endpoint-name) or use a stack name of at most "
            f"{ENDPOINT_NAME_LIMIT - len(DEFAULT_ENDPOINT_SUFFIX)} characters"
        )
    return errors


def stack_values(
    supplied: list[Supplied],
    specs: Mapping[str, Mapping[str, Any]],
    new_stack: bool,
    current: Mapping[str, str],
) -> dict[str, str]:
    """The values the stack will have: supplied ones over the defaults (new) or current ones (update)."""
    if new_stack:
        values = {name: as_text(spec["Default"]) for name, spec in specs.items() if "Default" in spec}
    else:
        values = dict(current)
    values.update({item.name: item.value for item in supplied})
    return values


def current_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        variable[len(CURRENT_PREFIX) :]: value
        for variable, value in environ.items()
        if variable.startswith(CURRENT_PREFIX)
    }


def overrides(supplied: list[Supplied]) -> list[str]:
    return [f"{item.name}={item.value}" for item in supplied]


# --- where values come from, for local mode (the launch script resolves them in bash, the same way) ---

SCRIPT = Path(__file__).resolve().parent.parent / "launch-cicd-pipeline.sh"


def parameter_flags(script: Path = SCRIPT) -> dict[str, str]:
    """The launch script's PARAMETER_TABLE (flag without -- -> template parameter): one table for
    `deploy` and local mode."""
    table = re.search(r'^PARAMETER_TABLE="\n(.*?)^"', script.read_text(encoding="utf-8"), re.M | re.S)
    if table is None:
        raise ValueError(f"{script}: no PARAMETER_TABLE")
    return dict(line.split() for line in table.group(1).splitlines() if line.strip())


def variable_for_flag(flag: str) -> str:
    """--notification-email -> SMP_NOTIFICATION_EMAIL, as the launch script names it."""
    return "SMP_" + flag.upper().replace("-", "_")


class SettingsFileError(ValueError):
    pass


def read_env_file(path: Path, known: set[str]) -> dict[str, tuple[str, int]]:
    """VARIABLE=value lines (comments, `export `, optional quotes), read as data, as the launch
    script's read_env_file does: variable -> (value, line number)."""
    values: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip("\r").lstrip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ")
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line)
        if match is None:
            raise SettingsFileError(f"{path} line {number}: expected VARIABLE=value")
        key, value = match.groups()
        if key not in known:
            raise SettingsFileError(f"{path} line {number}: unknown variable {key} (see --help for the list)")
        quoted = re.fullmatch(r'"(.*)"|\'(.*)\'', value)
        if quoted:
            value = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
        values[key] = (value, number)
    return values


def resolve(
    flag: str,
    given: Mapping[str, str],
    environ: Mapping[str, str],
    file_values: Mapping[str, tuple[str, int]],
    env_file: Path | None,
) -> Supplied | None:
    """One value by the launch script's precedence: flag, environment, settings file (else None)."""
    variable = variable_for_flag(flag)
    if flag in given:
        return Supplied(flag, given[flag], f"--{flag}")
    if variable in environ:
        return Supplied(flag, environ[variable], f"{variable} (environment)")
    if variable in file_values:
        value, number = file_values[variable]
        return Supplied(flag, value, f"{variable} ({env_file} line {number})")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--new-stack", action="store_true", help="require parameters that have no default")
    parser.add_argument("--out", type=Path, help="write the --parameter-overrides JSON file here")
    parser.add_argument("--stack-name", default="", help="check the names the template derives from it")
    parser.add_argument(
        "--set-later",
        action="append",
        default=[],
        metavar="NAME",
        help="a parameter the caller sets after this check (counts as given for --new-stack)",
    )
    arguments = parser.parse_args(argv)

    try:
        specs = load_parameter_specs(arguments.template)
        rules = load_template(arguments.template).get("Rules") or {}
    except (OSError, yaml.YAMLError, ValueError) as error:
        print(f"error: cannot read the template: {error}", file=sys.stderr)
        return 2
    supplied = supplied_from_environment(os.environ)
    unknown = sorted(set(arguments.set_later) - set(specs))
    if unknown:
        print(f"error: --set-later {unknown[0]}: the template has no such parameter", file=sys.stderr)
        return 2
    errors = check(supplied, specs, arguments.new_stack, frozenset(arguments.set_later))
    if not errors:
        values = stack_values(supplied, specs, arguments.new_stack, current_from_environment(os.environ))
        errors = rule_problems(rules, values)
        if arguments.stack_name:
            errors.extend(name_problems(arguments.stack_name, values))
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    if errors:
        return 2
    if arguments.out:
        arguments.out.write_text(json.dumps(overrides(supplied)), encoding="utf-8")
        for item in supplied:
            print(f"  {item.name} = {shown(item.value, specs[item.name])}  ({item.origin})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
