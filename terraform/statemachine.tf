# The recovery workflow, from the same ASL file the local engine and the tests execute.

resource "aws_cloudwatch_log_group" "state_machine" {
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.argus.arn
}

resource "aws_sfn_state_machine" "recovery" {
  # checkov:skip=CKV_AWS_285: execution data in the logs would copy the approval state's input, which carries the task token, out of the encrypted history into CloudWatch Logs (issue 16); errors are logged, and the history (always kept, encrypted with the Argus key) has the rest.
  name       = local.state_machine_name
  type       = "STANDARD"
  role_arn   = aws_iam_role.state_machine.arn
  definition = templatefile("${path.module}/../statemachines/recovery.asl.json", local.asl_functions)

  # The approval state's input carries the task token (to the connectors only), and whoever
  # holds a token and states:SendTaskSuccess approves without the allow-list, the self-approval
  # check or the audit. So logs carry errors only and never execution data (inputs, outputs,
  # parameters); the console's graph, state names, timings and the AWS/States metrics (the
  # dashboard) stay, and the execution history, which Step Functions always keeps, is encrypted
  # with the Argus key, so reading it needs kms:Decrypt on that key besides
  # states:GetExecutionHistory.
  logging_configuration {
    level                  = "ERROR"
    include_execution_data = false
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
  }

  encryption_configuration {
    type                              = "CUSTOMER_MANAGED_KMS_KEY"
    kms_key_id                        = aws_kms_key.argus.arn
    kms_data_key_reuse_period_seconds = 300
  }

  tracing_configuration {
    enabled = true
  }

  depends_on = [aws_iam_role_policy.state_machine]
}
