//! The grammar of each resource kind's id, taken from AWS' naming rules, checked wherever a
//! resource id arrives from outside Argus (signals, alert labels, model proposals).
//!
//! Ids reach DynamoDB keys, chat messages, Step Functions inputs and the CodeBuild environment
//! of the Terraform-apply action, so an id that no AWS resource of its kind can have is refused
//! at the edge instead of travelling on. Where AWS allows a character that a shell or a path
//! would read (an Auto Scaling group may be named `a;b`, an alarm `a/../b`), Argus refuses it
//! anyway for every kind an action can target: such a resource is reported, never acted on.
//! Sources of each rule:
//!
//! - EC2 instance: `i-` and 8 or 17 lowercase hexadecimal characters (EC2 resource ids).
//! - ECS cluster and service: 1-255 letters, digits, hyphens and underscores (CreateCluster,
//!   CreateService); Argus keys a service as `<cluster>/<service>`.
//! - Lambda function: a name of 1-64 letters, digits, hyphens and underscores; a reference may
//!   also be a full or partial ARN with a version or alias (the `FunctionName` pattern).
//! - Auto Scaling group: 1-255 ASCII characters 33-126, no colon (CreateAutoScalingGroup).
//! - DynamoDB table: 3-255 of `a-z A-Z 0-9 _ - .` (DynamoDB naming rules).
//! - RDS DB instance: 1-63 letters, digits or hyphens, a letter first, no trailing hyphen and no
//!   two consecutive hyphens (CreateDBInstance).
//! - RDS DB cluster: the same rules as a DB instance identifier (CreateDBCluster).
//! - SQS queue: 1-80 letters, digits, hyphens and underscores, a FIFO queue ending `.fifo`
//!   within the 80 (CreateQueue).
//! - CloudWatch Logs log group: 1-512 of `a-z A-Z 0-9 _ - / . #` (CreateLogGroup).
//! - SSM parameter: `a-z A-Z 0-9 _ . -` and `/` between levels, no spaces, at most 15 levels
//!   (PutParameter); 1-1011 characters for the name Argus keys (2048 minus the ARN prefix).
//! - S3 bucket: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a
//!   letter or digit, no two adjacent dots (bucket naming rules).
//! - CloudWatch alarm: 1-255 characters, no control characters (PutMetricAlarm). Alarm names may
//!   hold spaces; an alarm is never an action's target.
//! - Any other kind (`external:<vendor>`, kinds read from ARNs, AWS Health entities): 1-512
//!   printable ASCII characters without spaces or shell metacharacters.

/// Characters a POSIX shell gives a meaning to (quoting, substitution, redirection, globbing,
/// chaining, comments after a blank), refused in every id an action can target.
const SHELL_METACHARACTERS: &str = "`$;&|<>(){}[]!*?~'\"\\ \t\n";

/// Checks `id` against the grammar of `<service>:<kind>`; the error is the rule it breaks.
pub fn check(service: &str, kind: &str, id: &str) -> Result<(), &'static str> {
    match (service, kind) {
        ("ec2", "instance") => ec2_instance_id(id),
        ("ecs", "cluster") => ecs_name(id),
        ("ecs", "service") => {
            let (cluster, service) = id
                .split_once('/')
                .ok_or("an ECS service is `<cluster>/<service>`")?;
            ecs_name(cluster)?;
            ecs_name(service)
        }
        ("lambda", "function") => lambda_function_name(id),
        ("autoscaling", "group") => auto_scaling_group_name(id),
        ("dynamodb", "table") => dynamodb_table_name(id),
        ("rds", "db") => rds_instance_identifier(id),
        // A DB cluster identifier follows the DB instance identifier's rules (CreateDBCluster).
        ("rds", "cluster") => rds_instance_identifier(id),
        ("sqs", "queue") => sqs_queue_name(id),
        ("logs", "log-group") => log_group_name(id),
        ("ssm", "parameter") => ssm_parameter_name(id),
        ("s3", "bucket") => s3_bucket_name(id),
        ("cloudwatch", "alarm") => alarm_name(id),
        _ => other_id(id),
    }
}

/// An EC2 instance id: `i-` and 8 or 17 lowercase hexadecimal characters.
pub fn ec2_instance_id(id: &str) -> Result<(), &'static str> {
    let hex = id
        .strip_prefix("i-")
        .ok_or("an EC2 instance id starts with `i-`")?;
    let lower_hex = hex
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    if (hex.len() == 8 || hex.len() == 17) && lower_hex {
        Ok(())
    } else {
        Err("an EC2 instance id is `i-` and 8 or 17 lowercase hexadecimal characters")
    }
}

fn word_chars(id: &str, extra: &str) -> bool {
    id.chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// An ECS cluster or service name.
pub fn ecs_name(name: &str) -> Result<(), &'static str> {
    if (1..=255).contains(&name.len()) && word_chars(name, "-_") {
        Ok(())
    } else {
        Err("an ECS cluster or service name is 1-255 letters, digits, `-` or `_`")
    }
}

/// A Lambda function's plain name, the form Argus keys resources by.
pub fn lambda_function_name(name: &str) -> Result<(), &'static str> {
    if (1..=64).contains(&name.len()) && word_chars(name, "-_") {
        Ok(())
    } else {
        Err("a Lambda function name is 1-64 letters, digits, `-` or `_`")
    }
}

/// A Lambda function reference as the API takes it: a name, a partial ARN
/// (`<account>:function:<name>`) or an ARN, each optionally with `:<version or alias>`.
pub fn lambda_function_reference(reference: &str) -> Result<(), &'static str> {
    const RULE: &str = "a Lambda function is a name (1-64 letters, digits, `-`, `_`) or its ARN, \
                        optionally with `:<version or alias>`";
    if reference.len() > 170 {
        return Err(RULE);
    }
    let rest = match reference.strip_prefix("arn:") {
        Some(arn) => {
            // arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]
            let mut parts = arn.splitn(5, ':');
            let partition = parts.next().unwrap_or("");
            let service = parts.next().unwrap_or("");
            let region = parts.next().unwrap_or("");
            let account = parts.next().unwrap_or("");
            let rest = parts.next().ok_or(RULE)?;
            let region_ok = region.is_empty() || word_chars(region, "-");
            if !partition.starts_with("aws") || service != "lambda" || !region_ok {
                return Err(RULE);
            }
            if !(account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())) {
                return Err(RULE);
            }
            rest.strip_prefix("function:").ok_or(RULE)?
        }
        None => match reference.split_once(":function:") {
            Some((account, rest)) => {
                if !(account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())) {
                    return Err(RULE);
                }
                rest
            }
            None => reference,
        },
    };
    let (name, qualifier) = match rest.split_once(':') {
        Some((name, qualifier)) => (name, Some(qualifier)),
        None => (rest, None),
    };
    lambda_function_name(name).map_err(|_| RULE)?;
    match qualifier {
        None => Ok(()),
        Some("$LATEST") => Ok(()),
        Some(qualifier) if (1..=128).contains(&qualifier.len()) && word_chars(qualifier, "-_") => {
            Ok(())
        }
        Some(_) => Err(RULE),
    }
}

/// An Auto Scaling group name: AWS allows ASCII 33-126 without `:`; Argus also refuses shell
/// metacharacters and `.`/`..` path segments, since the name can reach a build's environment.
pub fn auto_scaling_group_name(name: &str) -> Result<(), &'static str> {
    let ascii = name.bytes().all(|b| (33..=126).contains(&b) && b != b':');
    if !(1..=255).contains(&name.len()) || !ascii {
        return Err("an Auto Scaling group name is 1-255 ASCII characters 33-126, without `:`");
    }
    shell_and_path_safe(name)
}

/// A DynamoDB table name.
pub fn dynamodb_table_name(name: &str) -> Result<(), &'static str> {
    if (3..=255).contains(&name.len()) && word_chars(name, "_-.") {
        Ok(())
    } else {
        Err("a DynamoDB table name is 3-255 letters, digits, `_`, `-` or `.`")
    }
}

/// An RDS DB instance identifier.
pub fn rds_instance_identifier(id: &str) -> Result<(), &'static str> {
    let valid = (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && word_chars(id, "-")
        && !id.ends_with('-')
        && !id.contains("--");
    if valid {
        Ok(())
    } else {
        Err(
            "an RDS DB instance identifier is 1-63 letters, digits or hyphens, a letter first, \
             no trailing or doubled hyphen",
        )
    }
}

/// An SQS queue name.
pub fn sqs_queue_name(name: &str) -> Result<(), &'static str> {
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    if (1..=80).contains(&name.len()) && !stem.is_empty() && word_chars(stem, "-_") {
        Ok(())
    } else {
        Err("an SQS queue name is 1-80 letters, digits, `-` or `_`, a FIFO queue ending `.fifo`")
    }
}

/// A CloudWatch Logs log group name.
pub fn log_group_name(name: &str) -> Result<(), &'static str> {
    if !(1..=512).contains(&name.len()) || !word_chars(name, "_-/.#") {
        return Err("a log group name is 1-512 letters, digits, `_`, `-`, `/`, `.` or `#`");
    }
    no_dot_segments(name)
}

/// An SSM parameter name (with its leading `/` when it is in a hierarchy).
pub fn ssm_parameter_name(name: &str) -> Result<(), &'static str> {
    let levels = name.trim_start_matches('/').split('/').count();
    if !(1..=1011).contains(&name.len()) || !word_chars(name, "_.-/") || levels > 15 {
        return Err(
            "an SSM parameter name is letters, digits, `_`, `.`, `-` and `/` between at most 15 levels",
        );
    }
    no_dot_segments(name)
}

/// An S3 general purpose bucket name.
pub fn s3_bucket_name(name: &str) -> Result<(), &'static str> {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let valid = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge_ok(name.chars().next())
        && edge_ok(name.chars().last())
        && !name.contains("..");
    if valid {
        Ok(())
    } else {
        Err(
            "an S3 bucket name is 3-63 lowercase letters, digits, `.` or `-`, starting and ending \
             with a letter or digit",
        )
    }
}

/// A CloudWatch alarm name: UTF-8 without control characters, at most 255 characters.
pub fn alarm_name(name: &str) -> Result<(), &'static str> {
    let length = name.chars().count();
    if (1..=255).contains(&length) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err("an alarm name is 1-255 characters without control characters")
    }
}

/// Any kind without a grammar of its own: printable ASCII without spaces or shell
/// metacharacters, no `.`/`..` path segments, at most 512 characters.
pub fn other_id(id: &str) -> Result<(), &'static str> {
    if !(1..=512).contains(&id.len()) || !id.bytes().all(|b| (33..=126).contains(&b)) {
        return Err("a resource id is 1-512 printable ASCII characters without spaces");
    }
    shell_and_path_safe(id)
}

fn shell_and_path_safe(id: &str) -> Result<(), &'static str> {
    if id.contains(|c| SHELL_METACHARACTERS.contains(c)) {
        return Err("a resource id may not contain shell metacharacters or spaces");
    }
    no_dot_segments(id)
}

fn no_dot_segments(id: &str) -> Result<(), &'static str> {
    if id
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        Err("a resource id may not contain `.` or `..` path segments")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_references_take_the_documented_forms() {
        for good in [
            "checkout",
            "checkout:prod",
            "checkout:$LATEST",
            "123456789012:function:checkout",
            "arn:aws:lambda:us-west-2:123456789012:function:checkout",
            "arn:aws:lambda:us-west-2:123456789012:function:checkout:7",
            "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:checkout",
        ] {
            assert_eq!(lambda_function_reference(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "check out",
            "arn:aws:s3:us-west-2:123456789012:function:checkout",
            "arn:aws:lambda:us-west-2:1234:function:checkout",
            "arn:aws:lambda:us-west-2:123456789012:function:checkout:a;b",
            "checkout/../x",
        ] {
            assert!(lambda_function_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_kind_refuses_traversal_and_shell_metacharacters() {
        for (service, kind) in [
            ("ec2", "instance"),
            ("ecs", "service"),
            ("lambda", "function"),
            ("autoscaling", "group"),
            ("dynamodb", "table"),
            ("rds", "db"),
            ("rds", "cluster"),
            ("sqs", "queue"),
            ("logs", "log-group"),
            ("ssm", "parameter"),
            ("s3", "bucket"),
            ("external", "pagerduty"),
            ("aws", "account"),
        ] {
            for bad in ["web/../../x", "web;reboot", "web $(id)", "a b", "x|sh", ""] {
                assert!(check(service, kind, bad).is_err(), "{service}:{kind}/{bad}");
            }
        }
    }
}
