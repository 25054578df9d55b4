//! The group's deployments as this tool reads them back (`history`, `status`, `rollback`,
//! `promote`): what each one deployed (commit, build, bundle and what became of it in S3), how
//! it ended, and whether this tool made it; and their lines as people read them. Everything
//! but the three lookups at the end is pure: AWS answers in, entries, lines and JSON out.

use crate::aws::{self, s3};
use crate::base::error::{Error, Result};
use crate::base::shutdown::Shutdown;
use crate::deployment;
use crate::deployment::description::text_field_of;
use aws_sdk_codedeploy::types::{DeploymentInfo, DeploymentStatus, RevisionLocationType};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::Serialize;

/// What became of a deployment's bundle in S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum BundleState {
    /// Still there; its SHA-256 when it carries one (bundles made by this tool do).
    Present { sha256: Option<String> },
    /// Gone: expired by the bucket's lifecycle rules, or deleted.
    Expired,
    /// Could not be looked at (permissions, another region): the reason.
    Unknown { reason: String },
}

/// A deployment's revision, when it is a bundle in S3.
#[derive(Debug, Clone, Serialize)]
pub struct Bundle {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
    #[serde(flatten)]
    pub state: Option<BundleState>,
}

/// One line of the history.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub deployment_id: String,
    /// succeeded, failed, stopped, superseded (stopped, and a newer trigger's deployment
    /// followed), in progress (created, queued, in progress, baking, ready).
    pub status: &'static str,
    /// Made by this tool (its description carries the tool's marker).
    pub by_invisible_pipeline: bool,
    pub trigger_time: Option<String>,
    pub created: Option<String>,
    pub commit: Option<String>,
    /// The commit's branch, author and first line, when the description carries them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub build: Option<String>,
    /// For a `rollback`: the deployment whose revision it deployed again.
    pub rollback_of: Option<String>,
    /// A restart (`deploymentMode: RESTART`, whoever made it): the group's last success run
    /// again; for one of this tool's `restart`, that deployment's id, else "".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_of: Option<String>,
    pub bundle: Option<Bundle>,
    pub duration_seconds: Option<i64>,
    pub instances_succeeded: i64,
    pub instances_failed: i64,
    /// `history --timings`: created, first lifecycle event, last instance done, completed,
    /// and each instance's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<crate::deployment::timeline::Timings>,
}

pub(crate) fn status_word(status: Option<&DeploymentStatus>) -> &'static str {
    match status {
        Some(DeploymentStatus::Succeeded) => "succeeded",
        Some(DeploymentStatus::Failed) => "failed",
        Some(DeploymentStatus::Stopped) => "stopped",
        Some(
            DeploymentStatus::Created
            | DeploymentStatus::Queued
            | DeploymentStatus::InProgress
            | DeploymentStatus::Baking
            | DeploymentStatus::Ready,
        ) => "in progress",
        _ => "unknown",
    }
}

fn time(t: Option<&DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(Format::DateTime).ok())
}

/// The entry of one deployment; its bundle's state is filled in by the caller.
pub(crate) fn entry(info: &DeploymentInfo) -> Entry {
    let description = info.description().unwrap_or_default();
    let key = deployment::run_key(description);
    let bundle = info
        .revision()
        .filter(|r| r.revision_type() == Some(&RevisionLocationType::S3))
        .and_then(|r| r.s3_location())
        .and_then(|s3| {
            Some(Bundle {
                bucket: s3.bucket()?.to_string(),
                key: s3.key()?.to_string(),
                version_id: s3.version().map(str::to_string),
                etag: s3.e_tag().map(str::to_string),
                state: None,
            })
        });
    let overview = info.deployment_overview();
    Entry {
        deployment_id: info.deployment_id().unwrap_or_default().to_string(),
        status: status_word(info.status()),
        by_invisible_pipeline: key.is_some(),
        trigger_time: key.as_ref().and_then(|k| time(Some(&k.trigger))),
        created: time(info.create_time()),
        commit: deployment::field_of(description, "commit"),
        branch: text_field_of(description, "branch"),
        author: text_field_of(description, "author"),
        subject: text_field_of(description, "subject"),
        build: deployment::field_of(description, "build"),
        rollback_of: deployment::field_of(description, "rollback-of"),
        restart_of: (info.deployment_mode()
            == Some(&aws_sdk_codedeploy::types::DeploymentMode::Restart))
        .then(|| deployment::field_of(description, "restart-of").unwrap_or_default()),
        bundle,
        duration_seconds: match (info.create_time(), info.complete_time()) {
            (Some(start), Some(end)) => Some(end.secs() - start.secs()),
            _ => None,
        },
        instances_succeeded: overview.map_or(0, |o| o.succeeded()),
        instances_failed: overview.map_or(0, |o| o.failed()),
        timings: None,
    }
}

/// Marks as `superseded` the stopped deployments of this tool that a newer run's deployment
/// followed (a later trigger, created after it): `--if-busy stop-active` stopped them for it,
/// or they were stopped by hand before a newer run; either way a newer trigger replaced them.
pub(crate) fn mark_superseded(entries: &mut [Entry], infos: &[DeploymentInfo]) {
    let key_of = |id: &str| {
        infos
            .iter()
            .find(|i| i.deployment_id() == Some(id))
            .and_then(|i| {
                Some((
                    deployment::run_key(i.description()?)?,
                    i.create_time().cloned(),
                ))
            })
    };
    let keys: Vec<_> = entries.iter().map(|e| key_of(&e.deployment_id)).collect();
    for (i, entry) in entries.iter_mut().enumerate() {
        if entry.status != "stopped" {
            continue;
        }
        let Some((key, created)) = &keys[i] else {
            continue;
        };
        let newer = keys.iter().flatten().any(|(other, other_created)| {
            other > key
                && other_created.as_ref().map(|t| t.secs()) >= created.as_ref().map(|t| t.secs())
        });
        if newer {
            entry.status = "superseded";
        }
    }
}

/// Newest first (by creation time, then id), at most `limit`.
pub(crate) fn newest_first(mut infos: Vec<DeploymentInfo>, limit: usize) -> Vec<DeploymentInfo> {
    infos.sort_by(|a, b| {
        let at = |i: &DeploymentInfo| i.create_time().map(|t| (t.secs(), t.subsec_nanos()));
        at(b)
            .cmp(&at(a))
            .then_with(|| b.deployment_id().cmp(&a.deployment_id()))
    });
    infos.truncate(limit);
    infos
}

fn short(text: &str, n: usize) -> &str {
    text.char_indices().nth(n).map_or(text, |(i, _)| &text[..i])
}

fn duration(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The commit's subject, branch and author, as ` "subject" (branch, author)`; empty when the
/// description carries none. The subject is cut to keep the line readable.
fn people(e: &Entry) -> String {
    let subject = e.subject.as_deref().map(|s| {
        let cut: String = s.chars().take(60).collect();
        if cut.len() < s.len() {
            format!(" \"{cut}…\"")
        } else {
            format!(" \"{cut}\"")
        }
    });
    let who: Vec<&str> = [e.branch.as_deref(), e.author.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let who = (!who.is_empty()).then(|| format!(" ({})", who.join(", ")));
    format!("{}{}", subject.unwrap_or_default(), who.unwrap_or_default())
}

/// One line of text: id, status, trigger (or creation) time, commit, build, bundle, duration,
/// instances.
pub fn line(e: &Entry) -> String {
    let when = e
        .trigger_time
        .as_deref()
        .or(e.created.as_deref())
        .unwrap_or("-");
    let restart = match e.restart_of.as_deref() {
        Some("") => "restart: ".to_string(),
        Some(id) => format!("restart of {id}: "),
        None => String::new(),
    };
    let made = if e.by_invisible_pipeline {
        format!(
            "{restart}{}commit {}  build {}",
            e.rollback_of
                .as_deref()
                .map(|id| format!("rollback of {id}: "))
                .unwrap_or_default(),
            e.commit.as_deref().map_or("-", |c| short(c, 8)),
            e.build.as_deref().unwrap_or("-")
        ) + &people(e)
    } else {
        format!("{restart}not made by invisible-pipeline")
    };
    let bundle = match &e.bundle {
        None => "no S3 revision".to_string(),
        Some(b) => {
            let state = match &b.state {
                Some(BundleState::Present { sha256: Some(sha) }) => {
                    format!("sha256 {}", short(sha, 12))
                }
                Some(BundleState::Present { sha256: None }) => "present".to_string(),
                Some(BundleState::Expired) => "expired".to_string(),
                Some(BundleState::Unknown { reason }) => format!("not readable: {reason}"),
                None => "not looked at".to_string(),
            };
            format!("s3://{}/{} ({state})", b.bucket, b.key)
        }
    };
    format!(
        "{}  {:<11}  {}  {made}  {bundle}  {}  {} ok/{} failed",
        e.deployment_id,
        e.status,
        when,
        e.duration_seconds.map_or("-".to_string(), duration),
        e.instances_succeeded,
        e.instances_failed
    )
}

/// Instances of a deployment by their state (CodeDeploy's deployment overview).
#[derive(Debug, Clone, Default, Serialize)]
pub struct InstanceCounts {
    pub pending: i64,
    pub in_progress: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
}

pub(crate) fn instance_counts(info: &DeploymentInfo) -> InstanceCounts {
    info.deployment_overview()
        .map(|o| InstanceCounts {
            pending: o.pending(),
            in_progress: o.in_progress(),
            succeeded: o.succeeded(),
            failed: o.failed(),
            skipped: o.skipped(),
        })
        .unwrap_or_default()
}

/// A deployment holding the group now.
#[derive(Debug, Clone, Serialize)]
pub struct Running {
    #[serde(flatten)]
    pub entry: Entry,
    pub instances: InstanceCounts,
}

/// The newest failure, as `deploy` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    #[serde(flatten)]
    pub entry: Entry,
    /// Error code and message, rollback, and per failed instance the event, script and log tail.
    pub details: Vec<String>,
}

/// What `status` shows: what is live, what is running, what failed last.
#[derive(Debug, Clone, Serialize)]
pub struct GroupStatus {
    pub live: Option<Entry>,
    pub running: Vec<Running>,
    pub last_failure: Option<Failure>,
    /// A blue/green group: the fleet that takes the traffic now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<crate::deployment::phase::Serving>,
    /// What slows every deployment of the group (a load balancer's deregistration delay), or
    /// why it could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// `status` as text: three short sections, each headed by what it answers.
pub fn status_text(status: &GroupStatus) -> String {
    let mut text = String::new();
    match &status.live {
        Some(live) => text.push_str(&format!("live        {}\n", line(live))),
        None => text.push_str("live        nothing: no deployment of this group succeeded\n"),
    }
    if let Some(serving) = &status.serving {
        text.push_str(&format!(
            "serving     the {} fleet of {} ({}): {}\n",
            serving.fleet,
            serving.deployment_id,
            serving.why,
            if serving.instances.is_empty() {
                "instances not shown".to_string()
            } else {
                serving.instances.join(", ")
            }
        ));
    }
    if status.running.is_empty() {
        text.push_str("running     nothing\n");
    }
    for run in &status.running {
        let p = &run.instances;
        text.push_str(&format!(
            "running     {}\n            instances: {} pending, {} in progress, {} succeeded, {} failed, {} skipped\n",
            line(&run.entry),
            p.pending,
            p.in_progress,
            p.succeeded,
            p.failed,
            p.skipped
        ));
    }
    match &status.last_failure {
        Some(failure) => {
            text.push_str(&format!("last failed {}\n", line(&failure.entry)));
            for detail in &failure.details {
                for l in detail.lines() {
                    text.push_str(&format!("            {l}\n"));
                }
            }
        }
        None => text.push_str("last failed none\n"),
    }
    for note in &status.notes {
        text.push_str(&format!("note        {note}\n"));
    }
    text
}

/// What became of a deployment's bundle: [`s3::head_version`] on its version, gone when S3 says
/// so; other failures are reported, not raised, so that one unreadable bundle does not hide
/// the history.
pub(crate) async fn bundle_state(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> BundleState {
    match s3::head_version(s3, bucket, key, version_id).await {
        Ok(Some(found)) => BundleState::Present {
            sha256: found.sha256,
        },
        Ok(None) => BundleState::Expired,
        Err(err) => BundleState::Unknown {
            reason: match err {
                Error::Aws { message, .. } => message,
                other => other.to_string(),
            },
        },
    }
}

/// The deployments of the group in `statuses`, newest first, with their bundles looked at.
pub(crate) async fn deployments_in(
    clients: &aws::Clients,
    application: &str,
    group: &str,
    statuses: &[aws_sdk_codedeploy::types::DeploymentStatus],
    limit: usize,
    shutdown: &Shutdown,
) -> Result<Vec<aws_sdk_codedeploy::types::DeploymentInfo>> {
    let cd = &clients.codedeploy;
    let ids = shutdown
        .guard(aws::codedeploy::list(
            cd,
            application,
            group,
            statuses,
            None,
        ))
        .await?;
    let infos = shutdown.guard(aws::codedeploy::details(cd, &ids)).await?;
    Ok(newest_first(infos, limit))
}

/// The entry of a deployment, with the state of its bundle in S3 looked at.
pub(crate) async fn with_bundle(
    clients: &aws::Clients,
    info: &aws_sdk_codedeploy::types::DeploymentInfo,
    shutdown: &Shutdown,
) -> Result<Entry> {
    let mut entry = entry(info);
    if let Some(bundle) = entry.bundle.as_mut() {
        let state = shutdown
            .guard(async {
                Ok(bundle_state(
                    &clients.artifact_s3,
                    &bundle.bucket,
                    &bundle.key,
                    bundle.version_id.as_deref(),
                )
                .await)
            })
            .await?;
        // The SHA-256 recorded at build time: the description's (every deployment this tool
        // makes), else the object's metadata (bundles of earlier versions).
        let recorded = info
            .description()
            .and_then(|d| crate::deployment::field_of(d, "sha256"));
        bundle.state = Some(match (state, recorded) {
            (BundleState::Present { .. }, Some(sha)) => BundleState::Present { sha256: Some(sha) },
            (state, _) => state,
        });
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codedeploy::types::{DeploymentOverview, RevisionLocation, S3Location};

    fn info(id: &str, created: i64, description: &str) -> DeploymentInfo {
        DeploymentInfo::builder()
            .deployment_id(id)
            .status(DeploymentStatus::Succeeded)
            .create_time(DateTime::from_secs(created))
            .complete_time(DateTime::from_secs(created + 192))
            .description(description)
            .deployment_overview(DeploymentOverview::builder().succeeded(2).failed(0).build())
            .revision(
                RevisionLocation::builder()
                    .revision_type(RevisionLocationType::S3)
                    .s3_location(
                        S3Location::builder()
                            .bucket("art")
                            .key("bundles/app/abc/build.tgz")
                            .version("v1")
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    #[test]
    fn a_deployment_of_this_tool_shows_commit_build_and_bundle() {
        let d = deployment::description(
            DateTime::from_secs(1_764_000_000),
            Some("1a2b3c4d5e6f7a8b9c0d"),
            Some("app-deploy:1234"),
        );
        let mut e = entry(&info("d-NEW", 1_764_000_100, &d));
        e.bundle.as_mut().unwrap().state = Some(BundleState::Present {
            sha256: Some("ffeeddccbbaa99887766".into()),
        });
        let text = line(&e);
        assert!(e.by_invisible_pipeline);
        for part in [
            "d-NEW",
            "succeeded",
            "2025-11-24T16:00:00Z",
            "commit 1a2b3c4d ",
            "build app-deploy:1234",
            "s3://art/bundles/app/abc/build.tgz (sha256 ffeeddccbbaa)",
            "3m12s",
            "2 ok/0 failed",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
    }

    #[test]
    fn a_restart_says_so_with_what_it_ran_again() {
        let d = deployment::description_noting(
            DateTime::from_secs(1_764_000_000),
            &deployment::CommitInfo::id(Some("abc")),
            Some("p:1"),
            &[("restart-of", "d-LIVE")],
        );
        let mut i = info("d-R", 1_764_000_100, &d);
        i.deployment_mode = Some(aws_sdk_codedeploy::types::DeploymentMode::Restart);
        i.revision = None;
        let text = line(&entry(&i));
        assert!(text.contains("restart of d-LIVE: commit abc"), "{text}");
        assert!(text.contains("no S3 revision"), "{text}");
        let mut by_hand = info("d-H", 1_764_000_100, "restarted by hand");
        by_hand.deployment_mode = Some(aws_sdk_codedeploy::types::DeploymentMode::Restart);
        let text = line(&entry(&by_hand));
        assert!(
            text.contains("restart: not made by invisible-pipeline"),
            "{text}"
        );
        // Not a restart: no field in JSON.
        let plain = serde_json::to_value(entry(&info("d-P", 1, &d))).unwrap();
        assert!(plain.get("restart_of").is_none(), "{plain}");
    }

    #[test]
    fn others_deployments_are_marked_and_expired_bundles_shown() {
        let mut e = entry(&info("d-MANUAL", 1_764_000_000, "hotfix by hand"));
        e.bundle.as_mut().unwrap().state = Some(BundleState::Expired);
        let text = line(&e);
        assert!(!e.by_invisible_pipeline);
        assert!(text.contains("not made by invisible-pipeline"), "{text}");
        assert!(text.contains("(expired)"), "{text}");
        assert_eq!(e.commit, None);
    }

    #[test]
    fn status_says_what_is_live_running_and_failed() {
        let d =
            deployment::description(DateTime::from_secs(1_764_000_000), Some("abc"), Some("p:1"));
        let status = GroupStatus {
            live: Some(entry(&info("d-LIVE", 100, &d))),
            running: vec![Running {
                entry: entry(&info("d-RUN", 200, &d)),
                instances: InstanceCounts {
                    pending: 1,
                    in_progress: 2,
                    succeeded: 3,
                    ..InstanceCounts::default()
                },
            }],
            last_failure: Some(Failure {
                entry: entry(&info("d-BAD", 50, "by hand")),
                details: vec!["i-0abc: ApplicationStart failed\nlog tail".into()],
            }),
            notes: vec!["target group web: deregistration delay 300 s (the default)".into()],
            serving: Some(crate::deployment::phase::Serving {
                fleet: "green",
                deployment_id: "d-RUN".into(),
                why: "traffic moved; the original fleet waits to be terminated",
                instances: vec!["i-1".into(), "i-2".into()],
            }),
        };
        let text = status_text(&status);
        assert!(
            text.contains("serving     the green fleet of d-RUN (traffic moved; the original fleet waits to be terminated): i-1, i-2\n"),
            "{text}"
        );
        assert!(text.starts_with("live        d-LIVE"), "{text}");
        assert!(text.contains("running     d-RUN"), "{text}");
        assert!(
            text.contains("1 pending, 2 in progress, 3 succeeded"),
            "{text}"
        );
        assert!(text.contains("last failed d-BAD"), "{text}");
        assert!(
            text.contains("note        target group web: deregistration delay 300 s"),
            "{text}"
        );
        assert!(text.contains("            log tail\n"), "{text}");
        let empty = GroupStatus {
            live: None,
            running: vec![],
            last_failure: None,
            serving: None,
            notes: Vec::new(),
        };
        assert!(status_text(&empty).contains("no deployment of this group succeeded"));
    }

    #[test]
    fn a_stopped_run_followed_by_a_newer_trigger_reads_superseded() {
        let older = deployment::description(DateTime::from_secs(1_000), Some("a"), Some("p:1"));
        let newer = deployment::description(DateTime::from_secs(2_000), Some("b"), Some("p:2"));
        let mut stopped = info("d-OLD", 100, &older);
        stopped.status = Some(DeploymentStatus::Stopped);
        let mut by_hand = info("d-HAND", 50, "stopped by hand");
        by_hand.status = Some(DeploymentStatus::Stopped);
        let infos = vec![info("d-NEW", 200, &newer), stopped, by_hand];
        let mut entries: Vec<Entry> = infos.iter().map(entry).collect();
        mark_superseded(&mut entries, &infos);
        let statuses: Vec<_> = entries.iter().map(|e| e.status).collect();
        assert_eq!(statuses, ["succeeded", "superseded", "stopped"]);
    }

    #[test]
    fn newest_first_and_limited() {
        let infos = vec![
            info("d-1", 100, ""),
            info("d-3", 300, ""),
            info("d-2", 200, ""),
        ];
        let ids: Vec<_> = newest_first(infos, 2)
            .iter()
            .map(|i| i.deployment_id().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["d-3", "d-2"]);
    }
}
