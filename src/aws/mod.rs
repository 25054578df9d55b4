//! The AWS side: thin calls over the SDK clients for CodeDeploy and SSM, and `s3/`, where the
//! transfers are (a download that resumes, the multipart plan, the upload and the parts sent
//! ahead). The SDK configuration is built once, from the standard chain (environment, profile,
//! CodeBuild role), honouring `AWS_ENDPOINT_URL` and its per-service variants; nothing here
//! assumes a particular endpoint or emulator.
//!
//! Every client has connect and read timeouts, and the API clients an attempt and an
//! operation timeout, so that no call can hang a build forever. Errors become one line that
//! names the call, the resource and what to do; the SDK error stays their source.

pub mod calls;
pub(crate) mod cloudwatch;
pub(crate) mod codebuild;
pub(crate) mod codedeploy;
pub(crate) mod elb;
pub(crate) mod fleet;
pub mod query;
pub mod s3;
pub(crate) mod s3url;
pub(crate) mod sns;
pub mod ssm;

use crate::base::error::{Error, Result};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::timeout::TimeoutConfig;
use std::time::Duration;

/// The clients of one run. S3 and SSM serve the region the step runs in (parameter, app
/// archive); CodeDeploy and the artifact bucket the region of the instances.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ssm: aws_sdk_ssm::Client,
    pub s3: aws_sdk_s3::Client,
    pub artifact_s3: aws_sdk_s3::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// The deployment group's load balancers (its region: CodeDeploy's).
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    /// EC2, Auto Scaling, IAM (the preflight) and CloudWatch (the alarms that stopped a
    /// deployment), in CodeDeploy's region; CodeBuild (the build's phases) through
    /// [`query::QueryClient::in_region`], in the build's.
    pub query: query::QueryClient,
    /// The region of CodeDeploy and of the artifact bucket.
    pub deploy_region: String,
}

/// Timeouts of the API clients (CodeDeploy, SSM): small requests and answers.
pub(crate) fn api_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(30))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(120))
        .build()
}

/// Timeouts of S3: no whole-operation limit (a part or a download may take minutes), but a
/// connection that does not open or a response that does not start is given up. A body that
/// stalls is cut by the SDK's stalled-stream protection; the download then resumes.
pub(crate) fn s3_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .build()
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
            .timeout_config(s3_timeouts())
            .interceptor(calls::Listed)
            .build()
    };
    let codedeploy_conf = aws_sdk_codedeploy::config::Builder::from(&shared)
        .region(aws_config::Region::new(deploy_region.clone()))
        .timeout_config(api_timeouts())
        .interceptor(calls::Listed)
        .build();
    let elb_conf = aws_sdk_elasticloadbalancingv2::config::Builder::from(&shared)
        .region(aws_config::Region::new(deploy_region.clone()))
        .timeout_config(api_timeouts())
        .interceptor(calls::Listed)
        .build();
    let ssm_conf = aws_sdk_ssm::config::Builder::from(&shared)
        .timeout_config(api_timeouts())
        .interceptor(calls::Listed)
        .build();
    Ok(Clients {
        ssm: aws_sdk_ssm::Client::from_conf(ssm_conf),
        s3: aws_sdk_s3::Client::from_conf(s3_conf(&region)),
        artifact_s3: aws_sdk_s3::Client::from_conf(s3_conf(&deploy_region)),
        codedeploy: aws_sdk_codedeploy::Client::from_conf(codedeploy_conf),
        elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(elb_conf),
        query: query::QueryClient::new(&shared, &deploy_region),
        deploy_region,
    })
}

/// The raw HTTP response of every SDK crate (they share the Smithy runtime's type).
pub(crate) type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// The HTTP status of a failed call, when a response arrived.
pub(crate) fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// A response header of a failed call. The SDK drops some on errors (S3's
/// `x-amz-bucket-region` on HeadBucket: awslabs/aws-sdk-rust#1052), the raw response has them.
pub(crate) fn header<'a, E>(err: &'a SdkError<E, HttpResponse>, name: &str) -> Option<&'a str> {
    err.raw_response().and_then(|r| r.headers().get(name))
}

/// What kind of failure an AWS error is, by its code (the HTTP status alone is ambiguous:
/// S3 answers 403 for a denied call, a bad signature, a skewed clock and an expired token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Denied,
    ClockSkew,
    BadSignature,
    UnknownAccessKey,
    ExpiredToken,
    KmsKeyUnusable,
    Transient,
    Other,
}

/// Error codes of AWS's common and per-service error lists
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>,
/// <https://docs.aws.amazon.com/codedeploy/latest/APIReference/CommonErrors.html>).
pub(crate) fn classify(code: Option<&str>, status: Option<u16>, message: Option<&str>) -> Failure {
    let code = code.unwrap_or_default();
    match code {
        "AccessDenied"
        | "AccessDeniedException"
        | "KMS.AccessDeniedException"
        // SNS's denial (API reference, Publish: AuthorizationError, HTTP 403).
        | "AuthorizationError"
        // EC2's (EC2 API reference, error codes: UnauthorizedOperation, HTTP 403).
        | "UnauthorizedOperation"
        | "AllAccessDisabled" => Failure::Denied,
        "RequestTimeTooSkewed" | "RequestExpired" => Failure::ClockSkew,
        "InvalidSignatureException" if message.is_some_and(|m| m.contains("expired")) => {
            Failure::ClockSkew
        }
        "SignatureDoesNotMatch" | "InvalidSignatureException" | "IncompleteSignature" => {
            Failure::BadSignature
        }
        "InvalidAccessKeyId" | "UnrecognizedClientException" | "InvalidClientTokenId" => {
            Failure::UnknownAccessKey
        }
        "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired" => Failure::ExpiredToken,
        "KMS.DisabledException"
        | "KMS.NotFoundException"
        | "KMS.KMSInvalidStateException"
        | "KMS.InvalidKeyUsageException"
        | "KMS.KeyUnavailableException" => Failure::KmsKeyUnusable,
        "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "TooManyRequestsException"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "SlowDown"
        | "RequestTimeout"
        | "RequestTimeoutException"
        | "InternalError"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "ServiceUnavailableException" => Failure::Transient,
        _ if status.is_some_and(|s| s >= 500 || s == 429) => Failure::Transient,
        _ if code.is_empty() && status == Some(403) => Failure::Denied,
        _ => Failure::Other,
    }
}

/// The innermost cause of an error: "Connection refused (os error 111)" rather than the
/// SDK's whole debug chain.
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    // One line: the SDK's own texts can list every credential provider tried, line by line.
    last.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The advice for an SDK failure that no AWS answer caused, when there is one to give.
fn local_failure(inner: &str) -> Option<&'static str> {
    if inner.contains("no credentials found") || inner.contains("failed to load credentials") {
        return Some(
            "no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run inside CodeBuild or on an instance with a role (with RUST_LOG set, every source tried is shown)",
        );
    }
    None
}

/// Turns an SDK error into one line that names the call and the resource. Only an
/// access-denied answer gets "the role needs …", made from `calls.json`.
pub(crate) fn sdk_error<E>(
    service: &'static str,
    operation: &'static str,
    action: impl Into<String>,
    err: SdkError<E, HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, detail) = (err.code(), err.message());
    if let Some(advice) = local_failure(&innermost(&err)) {
        return Error::Aws {
            operation,
            action: action.into(),
            message: advice.to_string(),
            transient: false,
            source: Some(Box::new(err)),
        };
    }
    let failure = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure::Transient
        }
        _ => classify(code, status(&err), detail),
    };
    let with_code = |advice: &str| match code {
        Some(code) => format!("{code}: {advice}"),
        None => advice.to_string(),
    };
    let message = match failure {
        Failure::Denied => format!(
            "access denied ({}): {} (IAM policy, bucket or key policy)",
            detail.unwrap_or("no detail"),
            calls::needs(service, operation)
        ),
        Failure::ClockSkew => with_code(
            "this machine's clock differs from AWS's by more than 5 minutes: sync it (chrony, ntpd, systemd-timesyncd)",
        ),
        Failure::BadSignature => with_code(
            "the request signature does not match: the secret access key does not belong to the access key id (check AWS_SECRET_ACCESS_KEY, or the profile)",
        ),
        Failure::UnknownAccessKey => with_code(
            "AWS does not know this access key id (deleted, mistyped, or of another partition): check AWS_ACCESS_KEY_ID or AWS_PROFILE",
        ),
        Failure::ExpiredToken => with_code(
            "the session credentials have expired: refresh them (aws sso login, or a new role session)",
        ),
        Failure::KmsKeyUnusable => with_code(&format!(
            "the KMS key is disabled, pending deletion or not found ({}): enable it, or name another key",
            detail.unwrap_or("no detail")
        )),
        Failure::Transient | Failure::Other => match (&err, code, detail) {
            (SdkError::TimeoutError(_), _, _) => "timed out waiting for AWS".to_string(),
            (SdkError::DispatchFailure(_) | SdkError::ResponseError(_), _, _) => {
                format!("no usable answer from AWS: {}", innermost(&err))
            }
            (_, Some(code), Some(message)) => format!("{code}: {message}"),
            (_, Some(code), None) => code.to_string(),
            (_, None, _) => format!(
                "HTTP {}",
                status(&err).map(|s| s.to_string()).unwrap_or_default()
            ),
        },
    };
    Error::Aws {
        operation,
        action: action.into(),
        message,
        transient: failure == Failure::Transient,
        source: Some(Box::new(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_answers_are_told_apart_by_their_code() {
        assert_eq!(
            classify(Some("AccessDenied"), Some(403), None),
            Failure::Denied
        );
        assert_eq!(
            classify(Some("RequestTimeTooSkewed"), Some(403), None),
            Failure::ClockSkew
        );
        assert_eq!(
            classify(Some("SignatureDoesNotMatch"), Some(403), None),
            Failure::BadSignature
        );
        assert_eq!(
            classify(
                Some("InvalidSignatureException"),
                Some(400),
                Some("Signature expired: 20261126T060000Z is now earlier than ...")
            ),
            Failure::ClockSkew
        );
        assert_eq!(
            classify(Some("InvalidAccessKeyId"), Some(403), None),
            Failure::UnknownAccessKey
        );
        assert_eq!(
            classify(Some("ExpiredToken"), Some(400), None),
            Failure::ExpiredToken
        );
        assert_eq!(
            classify(Some("KMS.DisabledException"), Some(400), None),
            Failure::KmsKeyUnusable
        );
        assert_eq!(
            classify(Some("SlowDown"), Some(503), None),
            Failure::Transient
        );
        assert_eq!(classify(None, Some(502), None), Failure::Transient);
        assert_eq!(classify(None, Some(403), None), Failure::Denied);
        assert_eq!(classify(Some("NoSuchKey"), Some(404), None), Failure::Other);
    }
}
