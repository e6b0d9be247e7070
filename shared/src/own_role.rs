//! Argus' own roles: the exact IAM role ARNs Terraform writes into the policy
//! (`signals.self_role_arns`), and whether a CloudTrail principal is a session of one of them.
//!
//! A role is identified by partition, account and name. An assumed-role session ARN
//! (`arn:aws:sts::<account>:assumed-role/<name>/<session>`) carries no path, so a configured
//! role with a path is compared by its last segment, in the same account and partition only.

/// A role, as compared: nothing in it is a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleIdentity {
    pub partition: String,
    pub account: String,
    pub name: String,
}

fn is_account(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|byte| byte.is_ascii_digit())
}

fn is_role_name(text: &str) -> bool {
    // IAM's own alphabet for role names; no glob characters, so nothing here can match two roles.
    !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// Splits `arn:<partition>:<service>::<account>:<rest>`.
fn split_arn<'a>(arn: &'a str, service: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(found), Some(""), Some(account), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let partition_ok = !partition.is_empty()
        && partition
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-');
    (found == service && partition_ok && is_account(account)).then_some((partition, account, rest))
}

/// An exact IAM role ARN (`arn:aws:iam::123456789012:role/[path/]name`); `None` for anything
/// else, patterns included.
pub fn parse_role_arn(arn: &str) -> Option<RoleIdentity> {
    let (partition, account, rest) = split_arn(arn, "iam")?;
    let path_and_name = rest.strip_prefix("role/")?;
    let name = path_and_name.rsplit('/').next()?;
    let path_ok = path_and_name.split('/').all(is_role_name);
    (path_ok && is_role_name(name)).then(|| RoleIdentity {
        partition: partition.to_string(),
        account: account.to_string(),
        name: name.to_string(),
    })
}

/// The role a CloudTrail principal acts as: an assumed-role session's role, or the role
/// itself; `None` for users, services and anything unreadable.
pub fn principal_role(principal: &str) -> Option<RoleIdentity> {
    if let Some((partition, account, rest)) = split_arn(principal, "sts") {
        let mut parts = rest.strip_prefix("assumed-role/")?.splitn(2, '/');
        let (Some(name), Some(session)) = (parts.next(), parts.next()) else {
            return None;
        };
        return (is_role_name(name) && !session.is_empty()).then(|| RoleIdentity {
            partition: partition.to_string(),
            account: account.to_string(),
            name: name.to_string(),
        });
    }
    parse_role_arn(principal)
}

/// Whether `principal` acts as one of `own_roles` (exact role ARNs; unparseable ones match
/// nothing).
pub fn is_own_role(own_roles: &[String], principal: &str) -> bool {
    let Some(acting) = principal_role(principal) else {
        return false;
    };
    own_roles
        .iter()
        .filter_map(|arn| parse_role_arn(arn))
        .any(|own| own == acting)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "arn:aws:iam::123456789012:role/argus-recovery";

    #[test]
    fn a_session_of_the_role_is_the_role() {
        let own = [OWN.to_string()];
        assert!(is_own_role(
            &own,
            "arn:aws:sts::123456789012:assumed-role/argus-recovery/abc"
        ));
        assert!(is_own_role(&own, OWN));
        assert!(!is_own_role(
            &own,
            "arn:aws:sts::123456789013:assumed-role/argus-recovery/abc"
        ));
        assert!(!is_own_role(
            &own,
            "arn:aws-cn:sts::123456789012:assumed-role/argus-recovery/abc"
        ));
        assert!(!is_own_role(
            &own,
            "arn:aws:sts::123456789012:assumed-role/argus-recovery2/abc"
        ));
        assert!(!is_own_role(
            &own,
            "arn:aws:iam::123456789012:user/argus-recovery"
        ));
    }

    #[test]
    fn patterns_are_not_role_arns() {
        for bad in [
            "arn:aws:iam::*:role/argus-*",
            "arn:aws:iam::123456789012:role/*",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:sts::123456789012:assumed-role/x/y",
        ] {
            assert_eq!(parse_role_arn(bad), None, "{bad}");
        }
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/service/argus-recovery")
                .map(|role| role.name),
            Some("argus-recovery".to_string())
        );
    }
}
