//! The S3 object tag that records a bundle's place in its life, from the one data file
//! (`src/aws/status-tag.json`) that the artifact bucket's lifecycle rules read too.

/// The object tag that records a bundle's place in its life, for the bucket's lifecycle
/// rules: `pending` from the upload on (its deployment's end was not seen), then the
/// deployment's final status (`failed`, `stopped`, `succeeded`), and `live` for the bundles
/// of the two latest successful deployments of the group, which no rule expires. Its key and
/// values come from one data file, `status-tag.json`, which the artifact store's lifecycle
/// rules (infra) read too.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct StatusTag {
    pub(crate) key: String,
    pub(crate) pending: String,
    pub(crate) failed: String,
    pub(crate) stopped: String,
    pub(crate) succeeded: String,
    pub(crate) live: String,
}

const STATUS_TAG_JSON: &str = include_str!("../status-tag.json");

/// The status tag, from `status-tag.json`.
pub(crate) fn status_tag() -> &'static StatusTag {
    static TAG: std::sync::OnceLock<StatusTag> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        serde_json::from_str(STATUS_TAG_JSON).expect("src/aws/status-tag.json parses")
    })
}

/// The tagging of a new bundle (`key=pending`, as S3's `x-amz-tagging` takes it; the file's
/// words need no URL encoding). Every bundle is tagged from its upload on, so that one whose
/// deployment's end is never seen (`--no-wait`, a timeout, an interruption) still expires.
pub(crate) fn pending_tagging() -> String {
    let tag = status_tag();
    format!("{}={}", tag.key, tag.pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codedeploy::types::DeploymentStatus;

    #[test]
    fn status_tag_values_are_codedeploy_s_final_statuses() {
        let tag = status_tag();
        assert_eq!(tag.key, "invisible-pipeline-status");
        assert_eq!(tag.failed, DeploymentStatus::Failed.as_str());
        assert_eq!(tag.stopped, DeploymentStatus::Stopped.as_str());
        assert_eq!(tag.succeeded, DeploymentStatus::Succeeded.as_str());
        assert_eq!(pending_tagging(), "invisible-pipeline-status=Pending");
        // Tag values S3 accepts without encoding in x-amz-tagging.
        for v in [&tag.pending, &tag.live, &tag.key] {
            assert!(
                v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{v}"
            );
        }
    }
}
