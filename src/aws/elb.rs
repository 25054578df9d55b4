//! Elastic Load Balancing v2: the deregistration delay of a deployment group's target groups,
//! which an in-place deployment behind a load balancer waits out on every instance at
//! BlockTraffic (user guide, "Integrating CodeDeploy with Elastic Load Balancing").

use super::sdk_error;
use crate::base::error::Result;

/// The target groups CodeDeploy names (names, or ARNs), each with its deregistration delay in
/// seconds (`deregistration_delay.timeout_seconds`; API reference, TargetGroupAttribute).
/// DescribeTargetGroups takes names or ARNs, not both in one call.
pub(crate) async fn deregistration_delays(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    target_groups: &[String],
) -> Result<Vec<(String, u64)>> {
    let (arns, names): (Vec<String>, Vec<String>) = target_groups
        .iter()
        .cloned()
        .partition(|t| t.starts_with("arn:"));
    let mut found = Vec::new();
    for (by_arn, list) in [(true, arns), (false, names)] {
        if list.is_empty() {
            continue;
        }
        let call = elb.describe_target_groups();
        let call = if by_arn {
            call.set_target_group_arns(Some(list))
        } else {
            call.set_names(Some(list))
        };
        let out = call.send().await.map_err(|err| {
            sdk_error(
                "Elastic Load Balancing v2",
                "DescribeTargetGroups",
                "cannot read the deployment group's target groups",
                err,
            )
        })?;
        for group in out.target_groups() {
            let (Some(name), Some(arn)) = (group.target_group_name(), group.target_group_arn())
            else {
                continue;
            };
            let attributes = elb
                .describe_target_group_attributes()
                .target_group_arn(arn)
                .send()
                .await
                .map_err(|err| {
                    sdk_error(
                        "Elastic Load Balancing v2",
                        "DescribeTargetGroupAttributes",
                        format!("cannot read the attributes of target group {name}"),
                        err,
                    )
                })?;
            let delay = attributes
                .attributes()
                .iter()
                .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
                .and_then(|a| a.value())
                .and_then(|v| v.parse().ok());
            if let Some(delay) = delay {
                found.push((name.to_string(), delay));
            }
        }
    }
    Ok(found)
}
