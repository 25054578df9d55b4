//! The SSM parameter that names the application archive.

use super::sdk_error;
use crate::diag::Diagnostics;
use crate::error::{Error, Result};
use crate::s3url::S3Url;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;

/// Reads `name` (String or SecureString, decrypted) and parses its `s3://` value.
pub async fn archive_location(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<S3Url> {
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(GetParameterError::ParameterNotFound(_)) => Error::Aws {
                action: format!("cannot read SSM parameter {name}"),
                message: "parameter not found: create it with the s3:// location of the application \
                          archive, or fix --app-archive-parameter ($APP_ARCHIVE_PARAMETER)"
                    .into(),
            },
            _ => sdk_error(
                format!("cannot read SSM parameter {name}"),
                "the role needs ssm:GetParameter on the parameter (and kms:Decrypt on its key for a SecureString)",
                err,
            ),
        })?;
    let value = out
        .parameter()
        .and_then(|p| p.value())
        .unwrap_or_default()
        .to_string();
    value.parse::<S3Url>().map_err(|message| {
        let mut diags = Diagnostics::default();
        diags.error(format!("SSM parameter {name}"), message);
        Error::Invalid(diags)
    })
}
