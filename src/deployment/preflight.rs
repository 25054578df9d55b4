//! Before anything is downloaded or uploaded: does the deployment group exist, does its target
//! selection match at least one running instance, and does its service role exist? Each "no"
//! is one line and stops the run before any upload: a wrong group name is a usage error
//! (exit 2), an empty fleet or a missing role is AWS not being ready (exit 4). Only those
//! answers stop a run: a check that cannot be made (denied, throttled past its retries,
//! unreachable) is a note ("could not check"), never a failure, so that the preflight can
//! only stop a deployment that would have failed. `--no-preflight` skips it all.

use crate::aws::codedeploy::find_group;
use crate::aws::fleet::{in_service, role_exists, running_instances, TagFilter};
use crate::aws::Clients;
use crate::base::error::{Error, Result};
use crate::deployment::config::DeployConfig;
use aws_sdk_codedeploy::types::{DeploymentGroupInfo, Ec2TagFilter, Ec2TagFilterType};
use std::collections::BTreeSet;

/// Runs the checks; the notes of what could not be checked.
pub(crate) async fn preflight(clients: &Clients, cfg: &DeployConfig) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let group = match find_group(&clients.codedeploy, &cfg.application, &cfg.group).await {
        Ok(Some(group)) => group,
        Ok(None) => {
            return Err(Error::Usage(format!(
                "deployment group {} does not exist in {} (--application, --deployment-group; $CODEDEPLOY_APPLICATION, $CODEDEPLOY_DEPLOYMENT_GROUP): nothing was uploaded",
                cfg.group_name(),
                clients.deploy_region
            )))
        }
        Err(err) => {
            notes.push(format!("could not check deployment group {}: {err}", cfg.group_name()));
            return Ok(notes);
        }
    };
    check_fleet(clients, cfg, &group, &mut notes).await?;
    check_role(clients, &group, &mut notes).await?;
    Ok(notes)
}

/// The group's instances: its tag filters (any of them), its tag set (one of each group),
/// its Auto Scaling groups; at least one running instance among them.
async fn check_fleet(
    clients: &Clients,
    cfg: &DeployConfig,
    group: &DeploymentGroupInfo,
    notes: &mut Vec<String>,
) -> Result<()> {
    let q = &clients.query;
    // ec2TagFilters and ec2TagSet are exclusive (API reference, CreateDeploymentGroup); each
    // is a list of groups here: the instances of every group, in each any filter's.
    let groups: Vec<Vec<TagFilter>> = if let Some(set) = group.ec2_tag_set() {
        set.ec2_tag_set_list()
            .iter()
            .map(|g| g.iter().filter_map(tag_filter).collect())
            .collect()
    } else if group.ec2_tag_filters().is_empty() {
        Vec::new()
    } else {
        vec![group
            .ec2_tag_filters()
            .iter()
            .filter_map(tag_filter)
            .collect()]
    };
    let asgs: Vec<&str> = group
        .auto_scaling_groups()
        .iter()
        .filter_map(|a| a.name())
        .collect();
    if !group.on_premises_instance_tag_filters().is_empty() || group.on_premises_tag_set().is_some()
    {
        notes.push(format!(
            "deployment group {}: on-premises instances are not checked",
            cfg.group_name()
        ));
    }
    if groups.is_empty() && asgs.is_empty() {
        // Blue/green with a fleet chosen per deployment, or on-premises only.
        return Ok(());
    }
    let mut found = 0usize;
    match tagged(q, &groups).await {
        Ok(ids) => found += ids.len(),
        Err(err) => {
            notes.push(format!(
                "could not check the group's tagged instances: {err}"
            ));
            return Ok(());
        }
    }
    let mut missing_asgs = Vec::new();
    for asg in &asgs {
        match in_service(q, asg).await {
            Ok(Some(n)) => found += n,
            Ok(None) => missing_asgs.push(*asg),
            Err(err) => {
                notes.push(format!("could not check Auto Scaling group {asg}: {err}"));
                return Ok(());
            }
        }
    }
    if found > 0 {
        return Ok(());
    }
    let selection = describe_selection(&groups, &asgs);
    let missing = if missing_asgs.is_empty() {
        String::new()
    } else {
        format!(" (no Auto Scaling group named {})", missing_asgs.join(", "))
    };
    Err(Error::aws(
        "DescribeInstances",
        format!("deployment group {} targets no running instance", cfg.group_name()),
        format!(
            "nothing matches {selection}{missing} in {}: CodeDeploy would fail with NO_INSTANCES; start or tag an instance, or deploy anyway with --no-preflight; nothing was uploaded",
            clients.deploy_region
        ),
    ))
}

/// The running instances in every group of filters (each group: any of its filters).
async fn tagged(
    q: &crate::aws::query::QueryClient,
    groups: &[Vec<TagFilter>],
) -> Result<BTreeSet<String>> {
    let mut all: Option<BTreeSet<String>> = None;
    for group in groups {
        let mut any = BTreeSet::new();
        for filter in group {
            any.extend(running_instances(q, filter).await?);
        }
        all = Some(match all {
            None => any,
            Some(before) => before.intersection(&any).cloned().collect(),
        });
    }
    Ok(all.unwrap_or_default())
}

fn tag_filter(f: &Ec2TagFilter) -> Option<TagFilter> {
    let key = f.key().filter(|k| !k.is_empty()).map(str::to_string);
    let value = f.value().filter(|v| !v.is_empty()).map(str::to_string);
    match (f.r#type(), key, value) {
        (Some(Ec2TagFilterType::KeyOnly), Some(k), _) => Some(TagFilter::KeyOnly(k)),
        (Some(Ec2TagFilterType::ValueOnly), _, Some(v)) => Some(TagFilter::ValueOnly(v)),
        (_, Some(k), Some(v)) => Some(TagFilter::KeyAndValue(k, v)),
        (_, Some(k), None) => Some(TagFilter::KeyOnly(k)),
        (_, None, Some(v)) => Some(TagFilter::ValueOnly(v)),
        _ => None,
    }
}

/// "tag app=web or tag env, and tag role=api; Auto Scaling group web-asg".
fn describe_selection(groups: &[Vec<TagFilter>], asgs: &[&str]) -> String {
    let one = |f: &TagFilter| match f {
        TagFilter::KeyAndValue(k, v) => format!("tag {k}={v}"),
        TagFilter::KeyOnly(k) => format!("tag key {k}"),
        TagFilter::ValueOnly(v) => format!("tag value {v}"),
    };
    let mut parts: Vec<String> = groups
        .iter()
        .map(|g| g.iter().map(one).collect::<Vec<_>>().join(" or "))
        .collect();
    let tags = parts.join(", and ");
    parts = Vec::new();
    if !tags.is_empty() {
        parts.push(format!("running instances with {tags}"));
    }
    if !asgs.is_empty() {
        parts.push(format!(
            "InService instances of Auto Scaling group {}",
            asgs.join(", ")
        ));
    }
    parts.join("; ")
}

/// The group's service role exists.
async fn check_role(
    clients: &Clients,
    group: &DeploymentGroupInfo,
    notes: &mut Vec<String>,
) -> Result<()> {
    let Some(arn) = group.service_role_arn() else {
        return Ok(());
    };
    // arn:PARTITION:iam::ACCOUNT:role/PATH/NAME: GetRole takes the name.
    let Some(name) = arn
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && arn.contains(":role/"))
    else {
        return Ok(());
    };
    match role_exists(&clients.query, name).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::aws(
            "GetRole",
            "the deployment group's service role is missing",
            format!(
                "IAM role {name} ({arn}) does not exist: CodeDeploy acts for the group through it (IAM_ROLE_MISSING); create it with the AWSCodeDeployRole policy or point the group at another; nothing was uploaded"
            ),
        )),
        Err(err) => {
            notes.push(format!("could not check the service role: {err}"));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selection_is_said_as_codedeploy_reads_it() {
        let groups = vec![
            vec![
                TagFilter::KeyAndValue("app".into(), "web".into()),
                TagFilter::KeyOnly("canary".into()),
            ],
            vec![TagFilter::ValueOnly("prod".into())],
        ];
        assert_eq!(
            describe_selection(&groups, &["web-asg"]),
            "running instances with tag app=web or tag key canary, and tag value prod; InService instances of Auto Scaling group web-asg"
        );
    }

    #[test]
    fn codedeploy_s_filter_types_become_ec2_filters() {
        let f = |t: Ec2TagFilterType, k: Option<&str>, v: Option<&str>| {
            tag_filter(
                &Ec2TagFilter::builder()
                    .r#type(t)
                    .set_key(k.map(str::to_string))
                    .set_value(v.map(str::to_string))
                    .build(),
            )
        };
        assert_eq!(
            f(Ec2TagFilterType::KeyAndValue, Some("app"), Some("web")),
            Some(TagFilter::KeyAndValue("app".into(), "web".into()))
        );
        assert_eq!(
            f(Ec2TagFilterType::KeyOnly, Some("app"), Some("x")),
            Some(TagFilter::KeyOnly("app".into()))
        );
        assert_eq!(
            f(Ec2TagFilterType::ValueOnly, None, Some("web")),
            Some(TagFilter::ValueOnly("web".into()))
        );
        assert_eq!(f(Ec2TagFilterType::KeyAndValue, None, None), None);
    }
}
