//! Thin functions over the AWS SDK clients. The SDK configuration is built once, from the
//! standard chain (environment, profile, CodeBuild role), honouring `AWS_ENDPOINT_URL` and its
//! per-service variants; nothing here assumes a particular endpoint or emulator.

pub mod codedeploy;
pub mod s3;
pub mod ssm;

use crate::error::{Error, Result};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// The clients of one run. S3 and SSM serve the region the step runs in (parameter, app
/// archive); CodeDeploy and the artifact bucket the region of the instances.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ssm: aws_sdk_ssm::Client,
    pub s3: aws_sdk_s3::Client,
    pub artifact_s3: aws_sdk_s3::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// The region of CodeDeploy and of the artifact bucket.
    pub deploy_region: String,
}

/// Loads the shared configuration; a missing region is a usage error, never a silent default.
pub async fn clients(region: Option<String>, deploy_region: Option<String>) -> Result<Clients> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    let shared = loader.load().await;
    let region = shared.region().map(|r| r.to_string()).ok_or_else(|| {
        Error::Usage(
            "no AWS region: set --region (or $AWS_REGION), or a region in the AWS profile".into(),
        )
    })?;
    let deploy_region = deploy_region.unwrap_or_else(|| region.clone());
    // Emulators and S3-compatible stores behind a custom endpoint rarely serve virtual-hosted
    // bucket names: address buckets by path there.
    let path_style =
        shared.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3_conf = |region: &str| {
        aws_sdk_s3::config::Builder::from(&shared)
            .region(aws_config::Region::new(region.to_string()))
            .force_path_style(path_style)
            .build()
    };
    let codedeploy_conf = aws_sdk_codedeploy::config::Builder::from(&shared)
        .region(aws_config::Region::new(deploy_region.clone()))
        .build();
    Ok(Clients {
        ssm: aws_sdk_ssm::Client::new(&shared),
        s3: aws_sdk_s3::Client::from_conf(s3_conf(&region)),
        artifact_s3: aws_sdk_s3::Client::from_conf(s3_conf(&deploy_region)),
        codedeploy: aws_sdk_codedeploy::Client::from_conf(codedeploy_conf),
        deploy_region,
    })
}

/// The HTTP status of a failed call, when a response arrived.
fn status<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// True for the errors that mean "not allowed", whoever says it (IAM, a bucket policy, KMS).
pub fn is_access_denied<E: ProvideErrorMetadata>(
    err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    matches!(
        err.code(),
        Some("AccessDenied" | "AccessDeniedException" | "KMS.AccessDeniedException")
    ) || err.code().is_some_and(|c| c.starts_with("KMS."))
        || status(err) == Some(403)
}

/// Turns an SDK error into a message that names the call and the resource; `denied` is the
/// advice for an access-denied answer.
pub fn sdk_error<E>(
    action: impl Into<String>,
    denied: &str,
    err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = if is_access_denied(&err) {
        let detail = err.message().unwrap_or("access denied").to_string();
        format!("access denied ({detail}): {denied}")
    } else if let SdkError::ServiceError(_) = &err {
        match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => format!(
                "HTTP {}: {}",
                status(&err).map(|s| s.to_string()).unwrap_or_default(),
                DisplayErrorContext(&err)
            ),
        }
    } else {
        DisplayErrorContext(&err).to_string()
    };
    Error::Aws {
        action: action.into(),
        message,
    }
}
