//! The artifact bucket's region: CodeDeploy reads an EC2 revision only from a bucket in the
//! instances' region, so a bucket elsewhere is a usage error before any work.

use crate::aws::sdk_error;
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;

/// The header in which S3 names a bucket's region, on errors too.
pub(crate) const BUCKET_REGION_HEADER: &str = "x-amz-bucket-region";

/// Checks that the artifact bucket is in `region`, with HeadBucket. S3 answers a bucket of
/// another region with 301 (sometimes 400) and no body, and a denied one with 403; each
/// carries the bucket's region in `x-amz-bucket-region`, which the SDK does not surface on
/// errors (awslabs/aws-sdk-rust#1052), so it is read from the raw response
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html>).
pub(crate) async fn check_bucket_region(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
    shutdown: &Shutdown,
) -> Result<()> {
    let elsewhere = |actual: &str| {
        Error::Usage(format!(
            "artifact bucket {bucket} is in {actual}, but CodeDeploy deploys in {region}: CodeDeploy needs an EC2 revision in the instances' region; use a bucket in {region} (--artifact-bucket) or deploy to {actual} (--deploy-region {actual})"
        ))
    };
    let action = format!("cannot use artifact bucket {bucket}");
    let answer = shutdown
        .guard(async { Ok(s3.head_bucket().bucket(bucket).send().await) })
        .await?;
    let err = match answer {
        Ok(out) => {
            return match out.bucket_region() {
                Some(actual) if actual != region => Err(elsewhere(actual)),
                _ => Ok(()),
            }
        }
        Err(err) => err,
    };
    let actual = crate::aws::header(&err, BUCKET_REGION_HEADER).map(str::to_string);
    match (crate::aws::status(&err), actual) {
        (_, Some(actual)) if actual != region => Err(elsewhere(&actual)),
        (Some(403), Some(actual)) => Err(Error::aws(
            "HeadBucket",
            action,
            format!(
                "access denied: the bucket exists and is in {actual} as it should be, but the role may not read it: {}",
                crate::aws::calls::needs("s3", "HeadBucket")
            ),
        )),
        (Some(404), _) => Err(Error::aws(
            "HeadBucket",
            action,
            "no such bucket: create it (the infra stack does) or fix --artifact-bucket ($ARTIFACT_BUCKET)",
        )),
        _ => Err(sdk_error("s3", "HeadBucket", action, err)),
    }
}

/// The same client, for another region.
pub(super) fn in_region(s3: &aws_sdk_s3::Client, region: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build(),
    )
}
