//! The SSM parameter that names the application archive.

use super::sdk_error;
use crate::aws::s3url::S3Url;
use crate::base::diag::Diagnostics;
use crate::base::error::{Error, Result};
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::types::ParameterType;

/// Where the archive is, and whether its location is a secret.
#[derive(Debug, Clone)]
pub struct ArchiveLocation {
    pub url: S3Url,
    /// A SecureString's value is shown nowhere: not in logs, not in the summary.
    pub secret: bool,
}

/// Reads `name` (String or SecureString, decrypted) and parses its `s3://` value.
pub async fn archive_location(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<ArchiveLocation> {
    let action = || format!("cannot read SSM parameter {name}");
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(GetParameterError::ParameterNotFound(_)) => Error::aws(
                "GetParameter",
                action(),
                "parameter not found: create it with the s3:// location of the application \
                 archive, or fix --app-archive-parameter ($APP_ARCHIVE_PARAMETER)",
            ),
            _ => sdk_error("ssm", "GetParameter", action(), err),
        })?;
    let parameter = out.parameter();
    let secret = parameter.and_then(|p| p.r#type()) == Some(&ParameterType::SecureString);
    let value = parameter.and_then(|p| p.value()).unwrap_or_default();
    let url = value.parse::<S3Url>().map_err(|message| {
        let mut diags = Diagnostics::default();
        let message = if secret {
            "its value is not an s3:// location (s3://bucket/key, optionally ?versionId=…); the value is a SecureString and is not shown".to_string()
        } else {
            match crate::aws::s3url::did_you_mean(value) {
                Some(meant) => format!("{message} (did you mean {meant}?)"),
                None => message,
            }
        };
        diags.error(format!("SSM parameter {name}"), message);
        Error::Invalid(diags)
    })?;
    Ok(ArchiveLocation { url, secret })
}
