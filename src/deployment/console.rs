//! The AWS console pages of a run: its CodeBuild build and its CodeDeploy deployment, for the
//! region each lives in. Only where the console's address is known for the partition
//! (commercial regions, China, GovCloud); elsewhere none is printed rather than a wrong one.

use serde::Serialize;

/// Links to the console pages of a run, when they can be made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConsoleLinks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
}

/// The console's host for `region`.
fn host(region: &str) -> Option<String> {
    let ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        return None;
    }
    if region.starts_with("cn-") {
        Some(format!("{region}.console.amazonaws.cn"))
    } else if region.starts_with("us-gov-") {
        Some(format!("{region}.console.amazonaws-us-gov.com"))
    } else if region.starts_with("us-iso")
        || region.starts_with("eu-isoe")
        || region.starts_with("eusc-")
    {
        None
    } else {
        Some(format!("{region}.console.aws.amazon.com"))
    }
}

/// The page of CodeDeploy deployment `id` in `region`.
pub fn deployment_link(region: &str, id: &str) -> Option<String> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    Some(format!(
        "https://{}/codesuite/codedeploy/deployments/{id}?region={region}",
        host(region)?
    ))
}

/// The page of the CodeBuild build whose ARN (`$CODEBUILD_BUILD_ARN`) is `arn`:
/// `arn:PARTITION:codebuild:REGION:ACCOUNT:build/PROJECT:UUID`.
pub fn build_link(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("codebuild"), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let id = resource.strip_prefix("build/")?;
    let (project, _) = id.split_once(':')?;
    let safe = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    };
    if !account.bytes().all(|b| b.is_ascii_digit()) || !safe(project) {
        return None;
    }
    let id = id.replace(':', "%3A");
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_%".contains(&b))
    {
        return None;
    }
    Some(format!(
        "https://{}/codesuite/codebuild/{account}/projects/{project}/build/{id}/?region={region}",
        host(region)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_made_for_the_region_s_console() {
        assert_eq!(
            deployment_link("ap-southeast-7", "d-ABC123").as_deref(),
            Some("https://ap-southeast-7.console.aws.amazon.com/codesuite/codedeploy/deployments/d-ABC123?region=ap-southeast-7")
        );
        // The partition of the ARN does not matter: the region chooses the console.
        assert_eq!(
            build_link("arn:aws-cn:codebuild:cn-north-1:123456789012:build/CodeBuildProject:0f1e-22aa").as_deref(),
            Some("https://cn-north-1.console.amazonaws.cn/codesuite/codebuild/123456789012/projects/CodeBuildProject/build/CodeBuildProject%3A0f1e-22aa/?region=cn-north-1")
        );
        assert!(deployment_link("cn-north-1", "d-1")
            .unwrap()
            .contains("console.amazonaws.cn"));
    }

    #[test]
    fn no_link_where_the_console_or_the_input_is_unknown() {
        assert_eq!(deployment_link("eusc-de-east-1", "d-1"), None);
        assert_eq!(deployment_link("us-east-1", "d-1?x=<script>"), None);
        assert_eq!(
            build_link("arn:aws-cn:codebuild:cn-north-1:12345:build/p:u/../x"),
            None
        );
        assert_eq!(build_link("not an arn"), None);
        assert_eq!(build_link("arn:aws-cn:s3:::bucket"), None);
    }
}
