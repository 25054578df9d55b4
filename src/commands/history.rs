//! `history`: the group's deployments, newest first, as people read them: what each one
//! deployed (commit, build, bundle), how it ended, and whether this tool made it; with
//! `--timings`, when each was created and completed and each instance's lifecycle events.

use crate::aws::{self, Clients};
use crate::base::error::Result;
use crate::base::shutdown::Shutdown;
use crate::deployment::record::{mark_superseded, newest_first, with_bundle, Entry};
use crate::deployment::timeline::read_timings;
use aws_smithy_types::DateTime;

/// The history's entries: every page of ListDeployments, their details, newest first, and the
/// state of each shown bundle; with `timings`, each shown deployment's instance events.
pub async fn run(
    clients: &Clients,
    application: &str,
    group: &str,
    limit: usize,
    since: Option<DateTime>,
    timings: bool,
    shutdown: &Shutdown,
) -> Result<Vec<Entry>> {
    let cd = &clients.codedeploy;
    let ids = shutdown
        .guard(aws::codedeploy::list(cd, application, group, &[], since))
        .await?;
    let infos = newest_first(
        shutdown.guard(aws::codedeploy::details(cd, &ids)).await?,
        usize::MAX,
    );
    let mut entries = Vec::new();
    for info in infos.iter().take(limit) {
        let mut entry = with_bundle(clients, info, shutdown).await?;
        if timings {
            entry.timings = Some(read_timings(clients, info, shutdown).await?);
        }
        entries.push(entry);
    }
    mark_superseded(&mut entries, &infos);
    Ok(entries)
}
