//! What a deployment group points at, read before anything is deployed to it: the running EC2
//! instances a tag filter matches (DescribeInstances), the InService instances of an Auto
//! Scaling group (DescribeAutoScalingGroups), and whether an IAM role exists (GetRole). Thin
//! calls over [`QueryClient`] (see there why not their SDK crates).

use super::query::{QueryClient, Service};
use crate::base::error::{Error, Result};

/// One of CodeDeploy's EC2 tag filters (API reference, EC2TagFilter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TagFilter {
    KeyAndValue(String, String),
    KeyOnly(String),
    ValueOnly(String),
}

/// DescribeInstances pages read at most: 20,000 instances, far more than any group deploys
/// to at once; a longer list is taken as matching.
const MAX_PAGES: usize = 20;

/// The ids of the running instances `filter` matches (EC2 API reference, DescribeInstances:
/// filters `tag:<key>`, `tag-key`, `tag-value`, `instance-state-name`), every page.
pub(crate) async fn running_instances(q: &QueryClient, filter: &TagFilter) -> Result<Vec<String>> {
    let (name, value) = match filter {
        TagFilter::KeyAndValue(k, v) => (format!("tag:{k}"), v.clone()),
        TagFilter::KeyOnly(k) => ("tag-key".to_string(), k.clone()),
        TagFilter::ValueOnly(v) => ("tag-value".to_string(), v.clone()),
    };
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut params = vec![
            ("Filter.1.Name", name.clone()),
            ("Filter.1.Value.1", value.clone()),
            ("Filter.2.Name", "instance-state-name".to_string()),
            ("Filter.2.Value.1", "running".to_string()),
            ("MaxResults", "1000".to_string()),
        ];
        if let Some(t) = &token {
            params.push(("NextToken", t.clone()));
        }
        let answer = q.call(Service::Ec2, "DescribeInstances", &params).await?;
        ids.extend(
            answer
                .all("instancesSet/item/instanceId")
                .map(str::to_string),
        );
        token = answer
            .first("DescribeInstancesResponse/nextToken")
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(ids)
}

/// The InService instances of Auto Scaling group `name` (Auto Scaling API reference,
/// DescribeAutoScalingGroups, `Instances.LifecycleState`); `None` when there is no such group.
pub(crate) async fn in_service(q: &QueryClient, name: &str) -> Result<Option<usize>> {
    let answer = q
        .call(
            Service::AutoScaling,
            "DescribeAutoScalingGroups",
            &[("AutoScalingGroupNames.member.1", name.to_string())],
        )
        .await?;
    if answer
        .first("AutoScalingGroups/member/AutoScalingGroupName")
        .is_none()
    {
        return Ok(None);
    }
    Ok(Some(
        answer
            .all("Instances/member/LifecycleState")
            .filter(|s| *s == "InService")
            .count(),
    ))
}

/// Whether IAM role `name` exists (IAM API reference, GetRole: NoSuchEntity, HTTP 404, when
/// it does not).
pub(crate) async fn role_exists(q: &QueryClient, name: &str) -> Result<bool> {
    match q
        .call(Service::Iam, "GetRole", &[("RoleName", name.to_string())])
        .await
    {
        Ok(_) => Ok(true),
        Err(Error::Aws { message, .. }) if message.starts_with("NoSuchEntity") => Ok(false),
        Err(err) => Err(err),
    }
}
