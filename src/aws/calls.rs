//! The AWS operations the binary calls and the IAM actions each needs, from one data file
//! (`calls.json`) that the pipeline stack's IAM test reads too. Error hints are made from it,
//! and in debug builds (every test) an interceptor refuses any operation missing from it, so
//! the file cannot fall behind the code.

use serde::Deserialize;
use std::sync::OnceLock;

/// The data file, as shipped in the binary.
pub(crate) const CALLS_JSON: &str = include_str!("calls.json");

#[derive(Debug, Deserialize)]
pub(crate) struct Calls {
    pub(crate) operations: Vec<Operation>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Operation {
    pub(crate) service: String,
    pub(crate) operation: String,
    pub(crate) actions: Vec<Action>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Action {
    pub(crate) action: String,
    /// The resource the action is granted on (the stack's policies read it from the file).
    #[cfg(test)]
    pub(crate) resource: String,
    #[serde(default)]
    pub(crate) when: Option<String>,
}

/// The parsed file.
pub(crate) fn calls() -> &'static Calls {
    static CALLS: OnceLock<Calls> = OnceLock::new();
    CALLS.get_or_init(|| serde_json::from_str(CALLS_JSON).expect("src/aws/calls.json parses"))
}

/// The entry of an operation (service as the SDK names it in lower case: `s3`, `codedeploy`).
pub(crate) fn find(service: &str, operation: &str) -> Option<&'static Operation> {
    calls()
        .operations
        .iter()
        .find(|o| o.service.eq_ignore_ascii_case(service) && o.operation == operation)
}

/// "the role needs s3:GetObject (s3:GetObjectVersion when a version id is given, …)": the
/// hint of an access-denied answer to `operation`.
pub(crate) fn needs(service: &str, operation: &str) -> String {
    let Some(op) = find(service, operation) else {
        return format!("the role needs the IAM actions of {service}:{operation}");
    };
    let parts: Vec<String> = op
        .actions
        .iter()
        .map(|a| match &a.when {
            Some(when) => format!("{} (when {when})", a.action),
            None => a.action.clone(),
        })
        .collect();
    format!("the role needs {}", parts.join(", "))
}

/// Refuses, in debug builds, any operation that `calls.json` does not list.
#[derive(Debug, Clone, Copy, Default)]
pub struct Listed;

impl aws_smithy_runtime_api::client::interceptors::Intercept for Listed {
    fn name(&self) -> &'static str {
        "invisible-pipeline: operation listed in calls.json"
    }

    // Not `read_before_execution`: a client-level interceptor runs that before the
    // operation's configuration (its `Metadata`) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if cfg!(debug_assertions) {
            let meta = cfg
                .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
                .expect("every SDK operation has its Metadata");
            assert!(
                find(meta.service(), meta.name()).is_some(),
                "{}:{} is called but not listed in src/aws/calls.json: add it with the IAM actions it needs",
                meta.service(),
                meta.name()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IAM actions of calls.json, as the error hints and the stack's IAM test read them.
    #[test]
    fn calls_json_names_the_implied_actions() {
        let actions = |op: &str| -> Vec<String> {
            calls()
                .operations
                .iter()
                .find(|o| o.operation == op)
                .unwrap()
                .actions
                .iter()
                .map(|a| a.action.clone())
                .collect()
        };
        assert!(actions("PutObject").contains(&"kms:GenerateDataKey".to_string()));
        assert!(actions("UploadPart").contains(&"kms:Decrypt".to_string()));
        assert!(actions("DeleteObject").contains(&"s3:DeleteObjectVersion".to_string()));
        assert!(actions("PutObjectTagging").contains(&"s3:PutObjectVersionTagging".to_string()));
        let star: Vec<&str> = calls()
            .operations
            .iter()
            .filter(|o| o.actions.iter().any(|a| a.resource == "*"))
            .map(|o| o.operation.as_str())
            .collect();
        assert_eq!(
            star,
            [
                "DescribeTargetGroups",
                "DescribeTargetGroupAttributes",
                "DescribeInstances",
                "DescribeAutoScalingGroups",
                "StopDeployment",
                "ListDeploymentTargets",
                "BatchGetDeploymentTargets"
            ]
        );
    }

    #[test]
    fn every_operation_names_its_actions() {
        for op in &calls().operations {
            assert!(!op.actions.is_empty(), "{}", op.operation);
            for a in &op.actions {
                let (service, _) = a.action.split_once(':').expect("service:Action");
                assert!(
                    [
                        "s3",
                        "ssm",
                        "kms",
                        "codedeploy",
                        "elasticloadbalancing",
                        "cloudwatch",
                        "sns",
                        "ec2",
                        "autoscaling",
                        "iam",
                        "codebuild"
                    ]
                    .contains(&service),
                    "{}",
                    a.action
                );
            }
        }
        assert!(
            needs("s3", "GetObject").contains("s3:GetObjectVersion (when a version id is given)")
        );
    }
}
