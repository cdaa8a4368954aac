#!/usr/bin/env bash
# Deploy, inspect, publish and delete the sagemaker-pipeline CloudFormation stack.
# Run with --help for every command, flag and variable.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY="$ROOT/.venv/bin/python"
ZIP="$ROOT/dist/lambdas.zip"
CONTAINER_ZIP="$ROOT/dist/container.zip"
BUILDSPEC="$ROOT/container/buildspec.yml"
DEFAULT_STACK_NAME=sagemaker-pipeline
POLL_SECONDS=${SMP_POLL_SECONDS:-10}
export AWS_PAGER=""

# Flag (without --) and the template parameter it sets. The variable is SMP_ + the flag in
# upper snake case (--notification-email -> SMP_NOTIFICATION_EMAIL), in the environment and in
# pipeline.env alike.
PARAMETER_TABLE="
github-owner GitHubOwner
github-repo GitHubRepo
github-branch GitHubBranch
code-connection-arn CodeConnectionArn
notification-email NotificationEmail
build-compute-type BuildComputeType
build-image BuildImage
build-timeout-minutes BuildTimeoutMinutes
training-instance-type TrainingInstanceType
training-instance-count TrainingInstanceCount
training-volume-size-gb TrainingVolumeSizeGB
max-training-runtime-seconds MaxTrainingRuntimeSeconds
use-spot-training UseSpotTraining
max-wait-seconds MaxWaitSeconds
hyperparameters Hyperparameters
metric-definitions MetricDefinitions
training-input-prefix TrainingInputPrefix
training-channel-name TrainingChannelName
deploy-endpoint DeployEndpoint
endpoint-name EndpointName
endpoint-instance-type EndpointInstanceType
endpoint-instance-count EndpointInstanceCount
deployment-strategy DeploymentStrategy
endpoint-max-batch-size EndpointMaxBatchSize
endpoint-max-batch-delay-ms EndpointMaxBatchDelayMs
quality-gate QualityGate
require-manual-approval RequireManualApproval
smoke-test-payload-key SmokeTestPayloadKey
delete-data-on-stack-delete DeleteDataOnStackDelete
data-trigger-quiet-seconds DataTriggerQuietSeconds
log-retention-days LogRetentionDays
data-capture-percent DataCapturePercent
drift-check-hours DriftCheckHours
drift-threshold DriftThreshold
training-warm-pool-seconds TrainingWarmPoolSeconds
endpoint-type EndpointType
serverless-memory-size-mb ServerlessMemorySizeMB
serverless-max-concurrency ServerlessMaxConcurrency
autoscaling-min-instances AutoScalingMinInstances
autoscaling-max-instances AutoScalingMaxInstances
autoscaling-target-invocations AutoScalingTargetInvocations
idle-endpoint-hours IdleEndpointHours
vpc-id VpcId
subnet-ids SubnetIds
security-group-ids SecurityGroupIds
create-vpc-endpoints CreateVpcEndpoints
route-table-ids RouteTableIds
permissions-boundary-arn PermissionsBoundaryArn
role-path RolePath
"
# Script settings that follow the same flag > environment > pipeline.env order.
SETTING_FLAGS=(stack-name region template code-bucket)

usage() {
  cat <<EOF
Usage: ./launch-cicd-pipeline.sh [options] <command> [command options]

Commands
  deploy             Create or update the stack with
                     'aws cloudformation deploy --no-fail-on-empty-changeset'. Packages the
                     code (see package) and uploads it, under content-hashed keys, to the code
                     bucket (created private and encrypted in the target region when missing),
                     streams stack events while waiting, prints the failed events on failure,
                     and on success the outputs and, while the GitHub connection is PENDING,
                     the console URL where you complete the one-click handshake.
  status             Stack status, outputs, the last events and the GitHub connection status.
  runs [--last N] [--json]
                     The run history: run id, trigger, git sha, status, metric, model version,
                     duration, cost and whether it was deployed (a table, or JSON with --json).
  rollback [--to VERSION|RUN_ID]
                     Redeploy the previous (or the named) approved model version to the endpoint
                     through the same blue/green update as a deploy, recorded as a run with
                     trigger 'rollback' and emailed. Refused while a pipeline execution or a
                     deployment is in progress, or when the version's image or artifact is gone.
  redeploy           Bring back the endpoint the idle-endpoint guard (IdleEndpointHours) deleted:
                     creates it from the endpoint config it served and waits until InService.
  delete [--purge]   Delete the stack and wait for it. Data buckets, the ECR images and the run
                     table are kept unless the stack was deployed with
                     --delete-data-on-stack-delete true. --purge sets that parameter to true
                     first (a stack update), so the delete also removes the data.
                     Asks for confirmation on a terminal unless --yes is given.
  package            Build dist/lambdas.zip from lambdas/ (the packager 'make package' runs) and
                     dist/container.zip, the image's build context, from container/.
  publish --bucket B [--prefix P] [--version V]
                     Upload the template, lambdas.zip, container.zip and buildspec.yml to
                     s3://B/P/V/ (P defaults to sagemaker-pipeline, V to 'git describe --tags
                     --always --dirty') and print the template URL and the Launch Stack URL.
                     No ACL is set: making the objects readable (a bucket policy) is up to you.
                     Lambda code must live in the stack's region, so publish to one bucket per
                     region you offer.
  --local [deploy|run|status|delete|runs|rollback] [--purge] [--keep] [--package DIR] [--data PATH]
          [--smoke-payload FILE] [--workdir DIR] [stack parameter flags]
                     Run the pipeline on this machine, no AWS account needed: hands over to
                     '.venv/bin/python -m localmode' (its --help lists every option). Without a
                     command: the full demo run. Stack parameters come as for deploy (flags,
                     SMP_ variables, the settings file, checked the same way).

Options
  --stack-name NAME  SMP_STACK_NAME   stack name (default $DEFAULT_STACK_NAME)
  --region REGION    SMP_REGION       target region (else AWS_REGION, AWS_DEFAULT_REGION, then
                                      'aws configure get region'); every region works
  --template FILE    SMP_TEMPLATE     template (default template/sagemaker-pipeline.yaml)
  --code-bucket B    SMP_CODE_BUCKET  bucket for the code bundles and the uploaded template
                                      (default sagemaker-pipeline-code-<account>-<region>)
  --env-file FILE    SMP_ENV_FILE     settings file (default <repository>/pipeline.env)
  --yes                               do not ask for confirmation
  -h, --help                          this text

Stack parameters (deploy; see docs/parameters.md for what each one does)
  flag                                   variable                           parameter
$(parameter_help)

Where values come from, first match wins: flag, environment variable, the settings file,
then the template default (new stack) or the stack's current value (update). LambdaCodeBucket
and LambdaCodeKey are always set by deploy. Values are checked against the template's
AllowedValues / AllowedPattern / Min / Max before any AWS call; the values a new stack
requires and the template's Rules (cross-parameter checks) before anything is created.

The settings file (pipeline.env, git-ignored; start from pipeline.env.example) holds
VARIABLE=value lines with the variables above, '#' comments and optional quotes around the
value. It is read as data, never executed.

Secrets: none are needed. The source is an AWS CodeConnections connection (empty
--code-connection-arn creates one), so there is no GitHub token flag; the script refuses any
token, secret or password flag and masks values that look like credentials.

Environment: AWS credentials as the AWS CLI finds them; AWS_ENDPOINT_URL is honoured (tests
point it at moto); SMP_POLL_SECONDS sets the event polling interval (default 10).
The AWS CLI is SMP_AWS_CLI when set, else .venv/bin/aws when present, else 'aws' on PATH.
EOF
}

parameter_help() {
  local flag name
  while read -r flag name; do
    [ -n "$flag" ] || continue
    printf '  --%-36s %-34s %s\n' "$flag VALUE" "$(variable_for_flag "$flag")" "$name"
  done <<<"$PARAMETER_TABLE"
}

die() {
  printf 'error: %s\n' "$*" >&2
  exit 2
}

warn() {
  printf 'warning: %s\n' "$*" >&2
}

variable_for_flag() {
  printf 'SMP_%s' "$(printf '%s' "$1" | tr 'a-z-' 'A-Z_')"
}

parameter_for_flag() {
  local flag name
  while read -r flag name; do
    if [ "$flag" = "$1" ]; then
      printf '%s' "$name"
      return 0
    fi
  done <<<"$PARAMETER_TABLE"
  return 1
}

is_setting_flag() {
  local flag
  for flag in "${SETTING_FLAGS[@]}"; do
    [ "$flag" = "$1" ] && return 0
  done
  return 1
}

known_variable() {
  local known
  known=$(printf '%s\n' "$PARAMETER_TABLE" "${SETTING_FLAGS[@]}" | awk 'NF { print $1 }' | tr 'a-z-' 'A-Z_')
  printf '%s\n' "$known" | grep -qx "${1#SMP_}" && [ "${1#SMP_}" != "$1" ]
}

# --- where values come from -------------------------------------------------------------------

# Reads KEY=VALUE lines into FILE_<KEY> / FILELINE_<KEY>; nothing in the file is executed.
read_env_file() {
  local file=$1 line key value number=0
  while IFS= read -r line || [ -n "$line" ]; do
    number=$((number + 1))
    line=${line%$'\r'}
    line="${line#"${line%%[![:space:]]*}"}"
    case $line in '' | '#'*) continue ;; esac
    line=${line#export }
    if [[ ! $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      die "$file line $number: expected VARIABLE=value"
    fi
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    known_variable "$key" || die "$file line $number: unknown variable $key (see --help for the list)"
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
      value=${BASH_REMATCH[1]}
    fi
    printf -v "FILE_$key" '%s' "$value"
    printf -v "FILELINE_$key" '%s' "$number"
  done <"$file"
}

# Sets VALUE and ORIGIN for a variable from flag, environment or settings file; fails when unset.
resolve() {
  local variable=$1 flag=$2 flag_var="FLAG_$1" file_var="FILE_$1" line_var="FILELINE_$1"
  if [ -n "${!flag_var+x}" ]; then
    VALUE=${!flag_var}
    ORIGIN="--$flag"
  elif [ -n "${!variable+x}" ]; then
    VALUE=${!variable}
    ORIGIN="$variable (environment)"
  elif [ -n "${!file_var+x}" ]; then
    VALUE=${!file_var}
    ORIGIN="$variable ($ENV_FILE line ${!line_var})"
  else
    return 1
  fi
}

setting() {
  if resolve "$(variable_for_flag "$1")" "$1"; then
    printf '%s' "$VALUE"
  else
    printf '%s' "${2:-}"
  fi
}

# Hands the stack parameters to scripts/launch_params.py through the environment (never argv).
export_parameters() {
  local flag name
  while read -r flag name; do
    [ -n "$flag" ] || continue
    if resolve "$(variable_for_flag "$flag")" "$flag"; then
      export "SMP_PARAM_$name=$VALUE" "SMP_ORIGIN_$name=$ORIGIN"
    fi
  done <<<"$PARAMETER_TABLE"
}

# An existing stack's parameter values, for the checker's Rules (an update keeps unset values).
export_current_values() {
  local key value
  while IFS=$'\t' read -r key value; do
    [[ $key =~ ^[A-Za-z0-9]+$ ]] || continue
    export "SMP_CURRENT_$key=$value"
  done < <(aws_cli cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query 'Stacks[0].Parameters[].[ParameterKey,ParameterValue]' --output text)
}

# --- tools ---------------------------------------------------------------------------------------

ensure_python() {
  if [ ! -f "$ROOT/.venv/.installed" ]; then
    echo "Setting up the project's Python environment (make venv)..." >&2
    make -C "$ROOT" venv >&2
  fi
}

find_aws_cli() {
  if [ -n "${SMP_AWS_CLI:-}" ]; then
    AWS_CLI=$SMP_AWS_CLI
  elif [ -x "$ROOT/.venv/bin/aws" ]; then
    AWS_CLI="$ROOT/.venv/bin/aws"
  elif command -v aws >/dev/null 2>&1; then
    AWS_CLI=$(command -v aws)
  else
    die "the AWS CLI was not found: run 'make venv' (installs .venv/bin/aws) or install 'aws'"
  fi
}

aws_cli() {
  "$AWS_CLI" --region "$REGION" "$@"
}

hash_file() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

url_encode() {
  local text=$1 encoded="" char i
  for ((i = 0; i < ${#text}; i++)); do
    char=${text:i:1}
    case $char in
      [A-Za-z0-9._~-]) encoded+=$char ;;
      *) encoded+=$(printf '%%%02X' "'$char") ;;
    esac
  done
  printf '%s' "$encoded"
}

console_host() {
  case $1 in
    cn-*) printf 'console.amazonaws.cn' ;;
    us-gov-*) printf 'console.amazonaws-us-gov.com' ;;
    *) printf 'console.aws.amazon.com' ;;
  esac
}

s3_host() {
  case $1 in
    cn-*) printf 's3.%s.amazonaws.com.cn' "$1" ;;
    *) printf 's3.%s.amazonaws.com' "$1" ;;
  esac
}

# --- settings ------------------------------------------------------------------------------------

load_settings() {
  ENV_FILE=${FLAG_SMP_ENV_FILE:-${SMP_ENV_FILE:-$ROOT/pipeline.env}}
  if [ -f "$ENV_FILE" ]; then
    read_env_file "$ENV_FILE"
  elif [ -n "${FLAG_SMP_ENV_FILE:-${SMP_ENV_FILE:-}}" ]; then
    die "settings file $ENV_FILE does not exist"
  fi

  STACK_NAME=$(setting stack-name "$DEFAULT_STACK_NAME")
  [[ $STACK_NAME =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] ||
    die "stack name '$STACK_NAME' is invalid: a letter, then letters, digits and '-' (128 at most)"
  TEMPLATE=$(setting template "$ROOT/template/sagemaker-pipeline.yaml")
  if [ -f "$TEMPLATE" ]; then TEMPLATE="$(cd "$(dirname "$TEMPLATE")" && pwd)/$(basename "$TEMPLATE")"; fi
  CODE_BUCKET=$(setting code-bucket)

}

connect_aws() {
  REGION=$(setting region "${AWS_REGION:-${AWS_DEFAULT_REGION:-}}")
  find_aws_cli
  if [ -z "$REGION" ]; then
    REGION=$("$AWS_CLI" configure get region 2>/dev/null || true)
  fi
  [ -n "$REGION" ] || die "no region: pass --region, or set SMP_REGION or AWS_REGION"
  [[ $REGION =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die "region '$REGION' is not a region name such as eu-west-1"
}

check_parameters() {
  ensure_python
  [ -f "$TEMPLATE" ] || die "template $TEMPLATE not found (pass --template)"
  export_parameters
  (cd "$ROOT" && "$PY" -m scripts.launch_params --template "$TEMPLATE" --stack-name "$STACK_NAME" "$@") || exit 2
}

# --- stack state and events --------------------------------------------------------------------

# Prints the stack status, nothing when the stack does not exist; dies on any other error.
stack_status() {
  local error_file="$WORK/describe-stacks.err"
  if ! aws_cli cloudformation describe-stacks --stack-name "$1" \
    --query 'Stacks[0].StackStatus' --output text 2>"$error_file"; then
    grep -q 'does not exist' "$error_file" || die "cannot read stack $1: $(head -n 1 "$error_file")"
  fi
}

stack_id() {
  aws_cli cloudformation describe-stacks --stack-name "$1" --query 'Stacks[0].StackId' --output text
}

# Event lines: id, timestamp, logical id, type, status, reason (tab-separated, newest first).
fetch_events() {
  aws_cli cloudformation describe-stack-events --stack-name "$1" --max-items 100 \
    --query 'StackEvents[].[EventId,Timestamp,LogicalResourceId,ResourceType,ResourceStatus,ResourceStatusReason]' \
    --output text 2>/dev/null | awk -F'\t' 'NF >= 5' || true
}

format_events() {
  awk -F'\t' '{ reason = ($6 == "None") ? "" : $6; printf "  %s  %-28s %-32s %s  %s\n", $2, $5, $3, $4, reason }'
}

# Remembers the events an existing stack already has, so only this run's events are printed.
start_event_log() {
  EVENTS_SEEN="$WORK/events.seen"
  RUN_EVENTS="$WORK/events.run"
  echo "-" >"$EVENTS_SEEN"
  : >"$RUN_EVENTS"
  if [ "${2:-existing}" != new ]; then fetch_events "$1" | cut -f1 >>"$EVENTS_SEEN"; fi
}

print_new_events() {
  local fresh
  fresh=$(fetch_events "$1" | awk -F'\t' 'NR == FNR { seen[$1] = 1; next } !($1 in seen)' "$EVENTS_SEEN" - |
    sort -t$'\t' -k2,2)
  [ -n "$fresh" ] || return 0
  printf '%s\n' "$fresh" >>"$RUN_EVENTS"
  printf '%s\n' "$fresh" | cut -f1 >>"$EVENTS_SEEN"
  printf '%s\n' "$fresh" | format_events
}

print_failed_events() {
  local failed
  failed=$(awk -F'\t' '$5 ~ /FAILED/' "$RUN_EVENTS")
  if [ -n "$failed" ]; then
    echo "Failed events:" >&2
    printf '%s\n' "$failed" | format_events >&2
  else
    echo "No failed stack events were recorded; the error above is the cause." >&2
  fi
}

# Follows a stack operation started elsewhere until the stack leaves *_IN_PROGRESS; the status
# it ends in is left in FINAL_STATUS ("" once a deleted stack is gone).
follow_stack() {
  while true; do
    print_new_events "$1"
    FINAL_STATUS=$(stack_status "$1")
    case $FINAL_STATUS in
      *_IN_PROGRESS) sleep "$POLL_SECONDS" ;;
      *) return 0 ;;
    esac
  done
}

# Prints the outputs and keeps them in STACK_OUTPUTS (key<TAB>value lines) for report_connection.
print_outputs() {
  STACK_OUTPUTS=$(aws_cli cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text)
  echo "Outputs of $STACK_NAME ($REGION):"
  if [ -z "$STACK_OUTPUTS" ] || [ "$STACK_OUTPUTS" = "None" ]; then
    echo "  (none)"
  else
    printf '%s\n' "$STACK_OUTPUTS" | awk -F'\t' '{ printf "  %-26s %s\n", $1, $2 }'
  fi
}

report_connection() {
  local arn service status error_file="$WORK/connection.err"
  arn=$(printf '%s\n' "$STACK_OUTPUTS" | awk -F'\t' '$1 == "ConnectionArn" { print $2 }')
  case $arn in '' | None) return 0 ;; esac
  case $arn in *:codestar-connections:*) service=codestar-connections ;; *) service=codeconnections ;; esac
  local url
  url="https://$(console_host "$REGION")/codesuite/settings/connections?region=$REGION"
  if status=$(AWS_MAX_ATTEMPTS=1 aws_cli "$service" get-connection --connection-arn "$arn" \
    --query Connection.ConnectionStatus --output text 2>"$error_file"); then
    echo "GitHub connection: $status"
    if [ "$status" = PENDING ]; then
      echo "The pipeline cannot read the repository until you complete the one-click handshake:"
      echo "  open $url, choose the connection and 'Update pending connection'."
    fi
  else
    warn "could not read the GitHub connection status ($(head -n 1 "$error_file" | cut -c1-160))."
    warn "a new connection stays PENDING until you complete the handshake at $url"
  fi
}

# --- commands ------------------------------------------------------------------------------------

command_package() {
  ensure_python
  (cd "$ROOT" && "$PY" -m scripts.package_lambdas --output "$ZIP" >/dev/null)
  (cd "$ROOT" && "$PY" -m scripts.package_container --output "$CONTAINER_ZIP" >/dev/null)
  echo "Built dist/lambdas.zip ($(wc -c <"$ZIP" | tr -d ' ') bytes) and dist/container.zip ($(wc -c <"$CONTAINER_ZIP" | tr -d ' ') bytes)"
  if [ ! -f "$BUILDSPEC" ]; then
    warn "container/buildspec.yml is missing: the pipeline's Build stage cannot run without it"
  fi
}

ensure_code_bucket() {
  local account=$1 error_file="$WORK/head-bucket.err"
  if aws_cli s3api head-bucket --bucket "$CODE_BUCKET" --expected-bucket-owner "$account" >/dev/null 2>"$error_file"; then
    return 0
  fi
  if ! grep -q -e '404' -e 'Not Found' -e 'NoSuchBucket' "$error_file"; then
    die "bucket $CODE_BUCKET is not usable from account $account ($(head -n 1 "$error_file")); pass --code-bucket"
  fi
  echo "Creating code bucket $CODE_BUCKET in $REGION"
  if [ "$REGION" = us-east-1 ]; then
    aws_cli s3api create-bucket --bucket "$CODE_BUCKET" >/dev/null
  else
    aws_cli s3api create-bucket --bucket "$CODE_BUCKET" \
      --create-bucket-configuration "LocationConstraint=$REGION" >/dev/null
  fi
  aws_cli s3api put-public-access-block --bucket "$CODE_BUCKET" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  aws_cli s3api put-bucket-encryption --bucket "$CODE_BUCKET" --server-side-encryption-configuration \
    '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
}

# Copies a file into the upload staging tree unless the bucket already holds its key.
stage_upload() {
  local file=$1 key=$2
  if printf '%s\n' "$EXISTING_KEYS" | grep -qxF "$key"; then
    echo "Already uploaded: s3://$CODE_BUCKET/$key"
  else
    mkdir -p "$(dirname "$WORK/upload/$key")"
    cp "$file" "$WORK/upload/$key"
  fi
}

# Keys carry a content hash, so a changed zip is a changed parameter and CloudFormation updates
# the functions and the build project; an unchanged one uploads nothing.
upload_code() {
  local bundle_hash
  CODE_KEY="$STACK_NAME/lambdas-$(hash_file "$ZIP" | cut -c1-16).zip"
  bundle_hash=$({ hash_file "$CONTAINER_ZIP"; [ ! -f "$BUILDSPEC" ] || hash_file "$BUILDSPEC"; } | hash_file /dev/stdin)
  CONTAINER_PREFIX="$STACK_NAME/container-$(printf '%s' "$bundle_hash" | cut -c1-16)/"
  EXISTING_KEYS=$(aws_cli s3api list-objects-v2 --bucket "$CODE_BUCKET" --prefix "$STACK_NAME/" \
    --query 'Contents[].Key' --output text | tr '\t' '\n')
  stage_upload "$ZIP" "$CODE_KEY"
  stage_upload "$CONTAINER_ZIP" "${CONTAINER_PREFIX}container.zip"
  if [ -f "$BUILDSPEC" ]; then stage_upload "$BUILDSPEC" "${CONTAINER_PREFIX}buildspec.yml"; fi
  if [ -d "$WORK/upload" ]; then
    aws_cli s3 cp --recursive --only-show-errors "$WORK/upload" "s3://$CODE_BUCKET/"
    (cd "$WORK/upload" && find . -type f | sed "s|^\./|Uploaded s3://$CODE_BUCKET/|" | sort)
  fi
}

command_deploy() {
  check_parameters
  local account status new_stack=()
  account=$(aws_cli sts get-caller-identity --query Account --output text)
  [ -n "$CODE_BUCKET" ] || CODE_BUCKET="sagemaker-pipeline-code-$account-$REGION"

  status=$(stack_status "$STACK_NAME")
  case $status in
    '') new_stack=(--new-stack) ;;
    REVIEW_IN_PROGRESS) new_stack=(--new-stack) ;;
    ROLLBACK_COMPLETE)
      die "stack $STACK_NAME failed to create and is in ROLLBACK_COMPLETE: run '$0 delete --stack-name $STACK_NAME' first" ;;
    *_IN_PROGRESS) die "stack $STACK_NAME is busy ($status); wait for it and try again" ;;
    *_FAILED)
      die "stack $STACK_NAME is in $status: see '$0 status', resolve it in the CloudFormation console" \
        "(for UPDATE_ROLLBACK_FAILED: 'aws cloudformation continue-update-rollback') or delete it" ;;
  esac

  # Every value, for a new stack every required one, and the template's Rules on the values the
  # stack would have are checked before the first AWS write (the code bucket); the code location
  # is set below, once the code is uploaded.
  [ ${#new_stack[@]} -gt 0 ] || export_current_values
  check_parameters ${new_stack[@]+"${new_stack[@]}"} \
    --set-later LambdaCodeBucket --set-later LambdaCodeKey --set-later ContainerCodePrefix
  command_package
  ensure_code_bucket "$account"
  upload_code
  export SMP_PARAM_LambdaCodeBucket=$CODE_BUCKET SMP_ORIGIN_LambdaCodeBucket="deploy (code bucket)"
  export SMP_PARAM_LambdaCodeKey=$CODE_KEY SMP_ORIGIN_LambdaCodeKey="deploy (uploaded zip)"
  export SMP_PARAM_ContainerCodePrefix=$CONTAINER_PREFIX SMP_ORIGIN_ContainerCodePrefix="deploy (uploaded bundle)"
  echo "Parameters for $STACK_NAME in $REGION (unlisted ones keep the template default or the current value):"
  check_parameters ${new_stack[@]+"${new_stack[@]}"} --out "$WORK/overrides.json"

  start_event_log "$STACK_NAME" "${status:-new}"
  aws_cli cloudformation deploy --stack-name "$STACK_NAME" --template-file "$TEMPLATE" \
    --s3-bucket "$CODE_BUCKET" --s3-prefix "$STACK_NAME/templates" \
    --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset \
    --parameter-overrides "file://$WORK/overrides.json" &
  DEPLOY_PID=$!
  local waited=0 result=0
  while kill -0 "$DEPLOY_PID" 2>/dev/null; do
    sleep 1
    waited=$((waited + 1))
    if [ $((waited % POLL_SECONDS)) -eq 0 ]; then print_new_events "$STACK_NAME"; fi
  done
  wait "$DEPLOY_PID" || result=$?
  DEPLOY_PID=""
  print_new_events "$STACK_NAME"
  if [ "$result" -ne 0 ]; then
    echo "Deploy of $STACK_NAME failed (aws cloudformation deploy exit $result)." >&2
    print_failed_events
    exit 1
  fi
  print_outputs
  report_connection
}

command_status() {
  local status reason
  status=$(stack_status "$STACK_NAME")
  if [ -z "$status" ]; then
    echo "Stack $STACK_NAME does not exist in $REGION." >&2
    exit 1
  fi
  reason=$(aws_cli cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query 'Stacks[0].StackStatusReason' --output text)
  [ "$reason" != None ] || reason=""
  echo "Stack $STACK_NAME ($REGION): $status${reason:+ ($reason)}"
  print_outputs
  echo "Last events:"
  fetch_events "$STACK_NAME" | head -n 10 | format_events
  report_connection
}

command_runs() {
  local table
  table=$(aws_cli cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query "Stacks[0].Outputs[?OutputKey=='MetaDataStore'].OutputValue | [0]" --output text) ||
    die "cannot read stack $STACK_NAME in $REGION"
  case $table in '' | None) die "stack $STACK_NAME has no MetaDataStore output: is it deployed?" ;; esac
  ensure_python
  (cd "$ROOT" && "$PY" -m scripts.run_history --table "$table" --region "$REGION" ${RUNS_ARGS[@]+"${RUNS_ARGS[@]}"})
}

command_rollback() {
  ensure_python
  (cd "$ROOT" && "$PY" -m scripts.rollback --stack-name "$STACK_NAME" --region "$REGION" \
    ${ROLLBACK_ARGS[@]+"${ROLLBACK_ARGS[@]}"})
}

command_redeploy() {
  ensure_python
  (cd "$ROOT" && "$PY" -m scripts.redeploy_endpoint --stack-name "$STACK_NAME" --region "$REGION") || exit 1
}

confirm() {
  local answer
  if [ "$ASSUME_YES" = true ] || [ ! -t 0 ]; then return 0; fi
  read -r -p "$1 [y/N] " answer
  case $answer in y | Y | yes | YES) return 0 ;; esac
  echo "Cancelled."
  exit 1
}

purge_data_on_delete() {
  local current keys key parameters=""
  current=$(aws_cli cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query "Stacks[0].Parameters[?ParameterKey=='DeleteDataOnStackDelete'].ParameterValue | [0]" --output text)
  case $current in
    true) return 0 ;;
    None | '') die "stack $STACK_NAME has no DeleteDataOnStackDelete parameter: --purge cannot remove its data" ;;
  esac
  echo "Setting DeleteDataOnStackDelete=true so the delete also removes the data"
  keys=$(aws_cli cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query 'Stacks[0].Parameters[].ParameterKey' --output text)
  for key in $keys; do
    if [ "$key" = DeleteDataOnStackDelete ]; then
      parameters+="{\"ParameterKey\":\"$key\",\"ParameterValue\":\"true\"},"
    else
      parameters+="{\"ParameterKey\":\"$key\",\"UsePreviousValue\":true},"
    fi
  done
  printf '[%s]' "${parameters%,}" >"$WORK/purge-parameters.json"
  local change_set
  change_set="purge-data-$(date -u +%Y%m%d%H%M%S)"
  aws_cli cloudformation create-change-set --stack-name "$STACK_NAME" --change-set-name "$change_set" \
    --change-set-type UPDATE --use-previous-template --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM \
    --parameters "file://$WORK/purge-parameters.json" >/dev/null
  if ! aws_cli cloudformation wait change-set-create-complete --stack-name "$STACK_NAME" \
    --change-set-name "$change_set"; then
    die "could not prepare the data purge: $(aws_cli cloudformation describe-change-set --stack-name "$STACK_NAME" \
      --change-set-name "$change_set" --query StatusReason --output text); the stack was not deleted"
  fi
  aws_cli cloudformation execute-change-set --stack-name "$STACK_NAME" --change-set-name "$change_set"
  follow_stack "$STACK_NAME"
  case $FINAL_STATUS in
    UPDATE_COMPLETE) ;;
    *)
      print_failed_events
      die "could not switch DeleteDataOnStackDelete on; the stack was not deleted" ;;
  esac
}

command_delete() {
  local status id
  status=$(stack_status "$STACK_NAME")
  if [ -z "$status" ]; then
    echo "Stack $STACK_NAME does not exist in $REGION: nothing to delete."
    return 0
  fi
  if [ "$PURGE" = true ]; then
    confirm "Delete stack $STACK_NAME in $REGION AND its data (buckets, images, run records)?"
  else
    confirm "Delete stack $STACK_NAME in $REGION (data is kept)?"
  fi
  id=$(stack_id "$STACK_NAME")
  start_event_log "$id"
  if [ "$PURGE" = true ]; then purge_data_on_delete; fi
  aws_cli cloudformation delete-stack --stack-name "$id"
  echo "Deleting $STACK_NAME..."
  follow_stack "$id"
  case $FINAL_STATUS in
    DELETE_COMPLETE | '') echo "Stack $STACK_NAME deleted." ;;
    *)
      echo "Delete of $STACK_NAME did not complete ($FINAL_STATUS)." >&2
      print_failed_events
      exit 1 ;;
  esac
}

command_publish() {
  [ -n "$PUBLISH_BUCKET" ] || die "publish needs --bucket BUCKET"
  [ -f "$TEMPLATE" ] || die "template $TEMPLATE not found (pass --template)"
  [ -f "$BUILDSPEC" ] || die "container/buildspec.yml is missing: a published stack could not build its image"
  local version=$PUBLISH_VERSION prefix=${PUBLISH_PREFIX:-sagemaker-pipeline} bucket_region location
  if [ -z "$version" ]; then
    version=$(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || date -u +%Y%m%d%H%M%S)
  fi
  [[ $version =~ ^[A-Za-z0-9._-]+$ ]] || die "version '$version' may only hold letters, digits, '.', '_' and '-'"
  prefix=${prefix%/}
  command_package
  location=$(aws_cli s3api get-bucket-location --bucket "$PUBLISH_BUCKET" \
    --query LocationConstraint --output text) || die "cannot read bucket $PUBLISH_BUCKET"
  case $location in
    None | '') bucket_region=us-east-1 ;;
    EU) bucket_region=eu-west-1 ;;
    *) bucket_region=$location ;;
  esac
  local release="$prefix/$version/"
  local template_key="${release}sagemaker-pipeline.yaml" code_key="${release}lambdas.zip"
  aws_cli s3api put-object --bucket "$PUBLISH_BUCKET" --key "$template_key" --body "$TEMPLATE" \
    --content-type text/yaml >/dev/null
  aws_cli s3api put-object --bucket "$PUBLISH_BUCKET" --key "$code_key" --body "$ZIP" \
    --content-type application/zip >/dev/null
  aws_cli s3api put-object --bucket "$PUBLISH_BUCKET" --key "${release}container.zip" --body "$CONTAINER_ZIP" \
    --content-type application/zip >/dev/null
  aws_cli s3api put-object --bucket "$PUBLISH_BUCKET" --key "${release}buildspec.yml" --body "$BUILDSPEC" \
    --content-type text/yaml >/dev/null

  local host template_url launch_url
  host=$(s3_host "$bucket_region")
  if [[ $PUBLISH_BUCKET == *.* ]]; then
    template_url="https://$host/$PUBLISH_BUCKET/$template_key"
  else
    template_url="https://$PUBLISH_BUCKET.$host/$template_key"
  fi
  launch_url="https://$(console_host "$bucket_region")/cloudformation/home?region=$bucket_region"
  launch_url+="#/stacks/quickcreate?templateURL=$(url_encode "$template_url")"
  launch_url+="&stackName=$(url_encode "$STACK_NAME")"
  launch_url+="&param_LambdaCodeBucket=$(url_encode "$PUBLISH_BUCKET")"
  launch_url+="&param_LambdaCodeKey=$(url_encode "$code_key")"
  launch_url+="&param_ContainerCodePrefix=$(url_encode "$release")"
  echo "Published version $version to s3://$PUBLISH_BUCKET/$prefix/$version/ ($bucket_region)"
  echo "Template:     $template_url"
  echo "Code:         s3://$PUBLISH_BUCKET/$release (lambdas.zip, container.zip, buildspec.yml)"
  echo "Launch Stack: $launch_url"
  echo "Launch Stack works in $bucket_region only (Lambda code must be in the stack's region)," \
    "and only once the bucket lets readers get these objects; this script sets no ACL or policy."
}

# Everything but --local goes to localmode, whose command defaults to the full demo run.
run_local() {
  local args=() arg
  for arg in "$@"; do
    case $arg in
      --local) ;;
      package | publish) die "--local does not support '$arg' (local commands: run, deploy, status, delete, runs, rollback)" ;;
      *) args+=("$arg") ;;
    esac
  done
  ensure_python
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m localmode ${args[@]+"${args[@]}"}
}

refuse_secret_flag() {
  die "$1: no secret is ever taken on the command line, and none is needed: the pipeline reads" \
    "GitHub through an AWS CodeConnections connection (leave --code-connection-arn empty to" \
    "create one, then complete the handshake in the console)"
}

parse_arguments() {
  COMMAND=""
  PURGE=false
  ASSUME_YES=false
  PUBLISH_BUCKET=""
  PUBLISH_PREFIX=""
  PUBLISH_VERSION=""
  RUNS_ARGS=()
  ROLLBACK_ARGS=()
  local option flag
  while [ $# -gt 0 ]; do
    option=$1
    case $option in
      --*=*)
        shift
        set -- "${option%%=*}" "${option#*=}" "$@"
        continue ;;
    esac
    case $option in
      -h | --help) usage && exit 0 ;;
      --*token* | --*secret* | --*password*) refuse_secret_flag "$option" ;;
      --purge) PURGE=true ;;
      --yes) ASSUME_YES=true ;;
      --json) RUNS_ARGS+=(--json) ;;
      --to)
        [ $# -ge 2 ] || die "--to needs a value"
        ROLLBACK_ARGS+=(--to "$2")
        shift ;;
      --last)
        [ $# -ge 2 ] || die "--last needs a value"
        RUNS_ARGS+=(--last "$2")
        shift ;;
      --bucket | --prefix | --version | --env-file | --*)
        [ $# -ge 2 ] || die "$option needs a value"
        flag=${option#--}
        case $option in
          --bucket) PUBLISH_BUCKET=$2 ;;
          --prefix) PUBLISH_PREFIX=$2 ;;
          --version) PUBLISH_VERSION=$2 ;;
          --env-file) FLAG_SMP_ENV_FILE=$2 ;;
          *)
            if parameter_for_flag "$flag" >/dev/null || is_setting_flag "$flag"; then
              printf -v "FLAG_$(variable_for_flag "$flag")" '%s' "$2"
            else
              die "unknown option $option (see --help)"
            fi ;;
        esac
        shift ;;
      deploy | status | redeploy | delete | package | publish | runs | rollback)
        [ -z "$COMMAND" ] || die "one command at a time ('$COMMAND' and '$option')"
        COMMAND=$option ;;
      *) die "unknown command '$option' (see --help)" ;;
    esac
    shift
  done
  [ -n "$COMMAND" ] || die "no command given (see --help)"
  if [ "$PURGE" = true ] && [ "$COMMAND" != delete ]; then die "--purge only goes with delete"; fi
  if [ ${#RUNS_ARGS[@]} -gt 0 ] && [ "$COMMAND" != runs ]; then die "--last and --json only go with runs"; fi
  if [ ${#ROLLBACK_ARGS[@]} -gt 0 ] && [ "$COMMAND" != rollback ]; then die "--to only goes with rollback"; fi
  if [ -n "$PUBLISH_BUCKET$PUBLISH_PREFIX$PUBLISH_VERSION" ] && [ "$COMMAND" != publish ]; then
    die "--bucket, --prefix and --version only go with publish"
  fi
}

cleanup() {
  if [ -n "${DEPLOY_PID:-}" ]; then
    kill "$DEPLOY_PID" 2>/dev/null || true
    warn "stopped waiting; CloudFormation carries on with the stack: follow it with '$0 status'"
  fi
  rm -rf "$WORK"
}

main() {
  local arg
  for arg in "$@"; do
    if [ "$arg" = --local ]; then run_local "$@"; fi
  done
  parse_arguments "$@"
  # Only this script sets the checker's input; nothing inherited may slip in.
  local inherited
  for inherited in "${!SMP_PARAM_@}" "${!SMP_ORIGIN_@}" "${!SMP_CURRENT_@}"; do unset "$inherited"; done
  load_settings
  WORK=$(mktemp -d)
  trap cleanup EXIT
  if [ "$COMMAND" != package ]; then connect_aws; fi
  trap 'exit 130' INT TERM
  case $COMMAND in
    deploy) command_deploy ;;
    status) command_status ;;
    runs) command_runs ;;
    rollback) command_rollback ;;
    redeploy) command_redeploy ;;
    delete) command_delete ;;
    package) command_package ;;
    publish) command_publish ;;
  esac
}

main "$@"
