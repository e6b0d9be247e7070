//! Approver identities compared the way people write them: `email:` addresses trimmed and
//! lowercased, Slack user ids uppercased, AWS principals matched without case and by the name a
//! person signs in with. Separation of duties rests on these comparisons, so a policy that lists
//! `email:Alice@Example.com` and a link issued to `email:alice@example.com` are one person, and
//! so are the CloudTrail principal `…:assumed-role/Admin/alice@example.com` and that address.

use crate::catalogue::RiskClass;
use crate::config::ApprovalPolicy;

/// One canonical form per identity: the scheme lowercased, then `email:` addresses lowercased,
/// `slack:` ids uppercased (Slack's own form), anything else lowercased; surrounding spaces go.
pub fn normalise(identity: &str) -> String {
    let identity = identity.trim();
    match identity.split_once(':') {
        Some((scheme, rest)) => {
            let scheme = scheme.trim().to_ascii_lowercase();
            let rest = rest.trim();
            match scheme.as_str() {
                "email" => format!("email:{}", rest.to_lowercase()),
                "slack" => format!("slack:{}", rest.to_ascii_uppercase()),
                // AWS ARNs and anything else: case-insensitive.
                _ => format!("{scheme}:{}", rest.to_lowercase()),
            }
        }
        None => identity.to_lowercase(),
    }
}

/// The e-mail address of an `email:` identity, normalised (what the SNS `approver` attribute and
/// Terraform's per-approver filter policies carry).
pub fn email_address(identity: &str) -> Option<String> {
    normalise(identity)
        .strip_prefix("email:")
        .map(str::to_string)
}

/// Whether `identity` is on the approver list of `risk` (a class also admits the approvers of
/// the classes above it), compared normalised.
pub fn may_approve(policy: &ApprovalPolicy, risk: RiskClass, identity: &str) -> bool {
    let identity = normalise(identity);
    policy
        .approvers_for(risk)
        .into_iter()
        .any(|listed| normalise(listed) == identity)
}

/// The names a principal is known by: itself, and for IAM users and assumed roles the user or
/// session name (how a person signs in: often their e-mail address).
fn principal_names(principal: &str) -> Vec<String> {
    let principal = principal.trim();
    let mut names = vec![normalise(principal)];
    if principal.starts_with("arn:") {
        let resource = principal.splitn(6, ':').nth(5).unwrap_or_default();
        let parts: Vec<&str> = resource.split('/').collect();
        let name = match parts.first().copied() {
            // user/<path>/<name>
            Some("user") => parts.last().copied(),
            // assumed-role/<role>/<session>
            Some("assumed-role") if parts.len() >= 3 => parts.last().copied(),
            _ => None,
        };
        if let Some(name) = name.filter(|name| !name.is_empty()) {
            names.push(name.to_lowercase());
        }
    }
    names
}

/// Whether `identity` belongs to whoever caused or requested the action: one of `principals`
/// (the requester, and every principal a signal of the incident names, such as the CloudTrail
/// caller whose change opened it) directly, through its sign-in name (an assumed-role session
/// or IAM user named by an e-mail address is that address), or through the identities the
/// policy lists for it (`approvals.identities`, whose keys may be ARNs or sign-in names).
pub fn is_self<'a>(
    policy: &ApprovalPolicy,
    principals: impl IntoIterator<Item = &'a str>,
    identity: &str,
) -> bool {
    let identity = normalise(identity);
    let address = identity.strip_prefix("email:");
    principals.into_iter().any(|principal| {
        let names = principal_names(principal);
        if names.iter().any(|name| {
            *name == identity || address.is_some_and(|address| name.as_str() == address)
        }) {
            return true;
        }
        policy.identities.iter().any(|(key, identities)| {
            // A key may be an ARN or a sign-in name, as may the principal.
            let key_names = principal_names(key);
            key_names.iter().any(|name| names.contains(name))
                && identities
                    .iter()
                    .any(|listed| normalise(listed) == identity)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ApprovalPolicy {
        ApprovalPolicy {
            low: vec![" Email:Alice@Example.COM ".into(), "slack:u0lead".into()],
            identities: [(
                "arn:aws:iam::123456789012:user/Bob".to_string(),
                vec![
                    "slack:UBOB".to_string(),
                    "email:bob@example.com".to_string(),
                ],
            )]
            .into(),
            ..ApprovalPolicy::default()
        }
    }

    #[test]
    fn identities_compare_normalised() {
        assert_eq!(
            normalise(" EMAIL: Alice@Example.COM "),
            "email:alice@example.com"
        );
        assert_eq!(normalise("slack:u024be7lh"), "slack:U024BE7LH");
        assert!(may_approve(
            &policy(),
            RiskClass::Low,
            "email:alice@example.com"
        ));
        assert!(may_approve(&policy(), RiskClass::Low, "slack:U0LEAD"));
        assert!(!may_approve(&policy(), RiskClass::Medium, "slack:U0LEAD"));
        assert_eq!(
            email_address("email:Alice@Example.com").as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(email_address("slack:U1"), None);
    }

    #[test]
    fn whoever_caused_the_incident_is_self_whatever_the_case() {
        let policy = policy();
        // Through the identity map, the key in another case than CloudTrail writes it.
        assert!(is_self(
            &policy,
            ["arn:aws:iam::123456789012:user/bob"],
            "slack:ubob"
        ));
        assert!(is_self(&policy, ["bob"], "EMAIL:Bob@example.com"));
        // Through the session name of an assumed role: the person who signed in.
        assert!(is_self(
            &policy,
            ["arn:aws:sts::123456789012:assumed-role/Admin/Mallory@Example.com"],
            "email:mallory@example.com"
        ));
        assert!(is_self(
            &policy,
            ["email:Carol@example.com"],
            "email:carol@example.com"
        ));
        assert!(!is_self(
            &policy,
            [
                "argus",
                "arn:aws:sts::123456789012:assumed-role/Admin/mallory@example.com"
            ],
            "email:alice@example.com"
        ));
    }
}
