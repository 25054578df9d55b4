//! SNS: the run's outcome published to the pipeline's notification topic (Publish, through
//! [`QueryClient`]: see there why not the SDK crate).

use super::query::{QueryClient, Service};
use crate::base::error::Result;

/// The region of a topic ARN (`arn:PARTITION:sns:REGION:ACCOUNT:NAME`).
pub(crate) fn topic_region(topic_arn: &str) -> Option<&str> {
    let mut parts = topic_arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("sns"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

/// A client of the topic's region (the topic lives in the pipeline's region, which may not be
/// the build's), from the standard configuration chain.
pub(crate) async fn client_for(topic_arn: &str) -> Option<QueryClient> {
    Some(QueryClient::from_env(topic_region(topic_arn)?).await)
}

/// Publishes `message` with `subject` (which the caller keeps within SNS's constraints) to
/// `topic_arn` (SNS API reference, Publish); the message id.
pub(crate) async fn publish(
    q: &QueryClient,
    topic_arn: &str,
    subject: &str,
    message: &str,
) -> Result<String> {
    let answer = q
        .call(
            Service::Sns,
            "Publish",
            &[
                ("TopicArn", topic_arn.to_string()),
                ("Subject", subject.to_string()),
                ("Message", message.to_string()),
            ],
        )
        .await?;
    Ok(answer
        .first("PublishResult/MessageId")
        .unwrap_or_default()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topic_s_region_is_read_from_its_arn() {
        assert_eq!(
            topic_region("arn:aws-cn:sns:cn-north-1:123456789012:pipeline"),
            Some("cn-north-1")
        );
        assert_eq!(topic_region("pipeline"), None);
        assert_eq!(topic_region("arn:aws-cn:sqs:cn-north-1:1:q"), None);
    }
}
