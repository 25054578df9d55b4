//! `status`: what is live in the group, what is running, and what failed last.

use crate::aws::{self, Clients};
use crate::base::error::Result;
use crate::base::shutdown::Shutdown;
use crate::deployment::record::{
    deployments_in, instance_counts, with_bundle, Failure, GroupStatus, Running,
};

/// What `status` shows, from ListDeployments filtered by status (live: the newest success;
/// running: the active ones; the newest failure with its instances' details).
pub async fn run(
    clients: &Clients,
    application: &str,
    group: &str,
    shutdown: &Shutdown,
) -> Result<GroupStatus> {
    use aws_sdk_codedeploy::types::DeploymentStatus;
    let live = deployments_in(
        clients,
        application,
        group,
        &[DeploymentStatus::Succeeded],
        1,
        shutdown,
    )
    .await?;
    let live_info = live.first().cloned();
    let live = match live.first() {
        Some(info) => Some(with_bundle(clients, info, shutdown).await?),
        None => None,
    };
    let active = deployments_in(
        clients,
        application,
        group,
        &aws::codedeploy::ACTIVE,
        usize::MAX,
        shutdown,
    )
    .await?;
    let mut running = Vec::new();
    for info in &active {
        running.push(Running {
            entry: with_bundle(clients, info, shutdown).await?,
            instances: instance_counts(info),
        });
    }
    let failed = deployments_in(
        clients,
        application,
        group,
        &[DeploymentStatus::Failed],
        1,
        shutdown,
    )
    .await?;
    let last_failure = match failed.first() {
        Some(info) => {
            let mut details = aws::codedeploy::deployment_summary(info);
            let id = info.deployment_id().unwrap_or_default();
            details.extend(
                shutdown
                    .guard(async {
                        Ok(aws::codedeploy::failure_details(&clients.codedeploy, id).await)
                    })
                    .await?,
            );
            Some(Failure {
                entry: with_bundle(clients, info, shutdown).await?,
                details,
            })
        }
        None => None,
    };
    let mut serving = crate::deployment::phase::serving(live_info.as_ref(), &active);
    if let Some(serving) = &mut serving {
        // Best effort: the instances of that fleet, as its deployment lists them.
        let targets = shutdown
            .guard(async {
                Ok(
                    aws::codedeploy::instance_targets(&clients.codedeploy, &serving.deployment_id)
                        .await,
                )
            })
            .await?;
        if let Ok(targets) = targets {
            serving.instances = crate::deployment::phase::fleet_instances(&targets, serving.fleet);
        }
    }
    let notes = crate::deployment::drain::notes(clients, application, group, shutdown)
        .await
        .into_iter()
        .map(|n| format!("{}: {}", n.location, n.message))
        .collect();
    Ok(GroupStatus {
        live,
        running,
        last_failure,
        serving,
        notes,
    })
}
