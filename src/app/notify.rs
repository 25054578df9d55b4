//! The run's outcome told to people: at the end of `deploy`, `rollback`, `promote` and
//! `restart`, with `--notify-topic` (`$NOTIFY_TOPIC_ARN`), one SNS message whose subject names
//! the application, group, command, status and short commit, and whose body says what a
//! person needs first: the deployment and its console page, the commit (id, branch, author,
//! subject), the build, the timeline from the push to the last instance done (a deploy that
//! ended), and on failure the reason (the alarm that fired, the instance that failed). EventBridge's rules stay for what the binary cannot tell: a build that ends before
//! the binary does, and deployments nobody followed. A publish that fails is a warning, never
//! the run's failure.

use crate::app::report::Report;
use crate::aws::sns;
use crate::base::error::{Error, Result};
use crate::base::term::log;
use crate::deployment::console::deployment_link;
use crate::deployment::CommitInfo;

/// What the message is about, known before the run ends (a failed run has no outcome).
pub(crate) struct Notice<'a> {
    pub command: &'static str,
    pub application: &'a str,
    pub group: &'a str,
    /// The deployment's region (its console link).
    pub region: &'a str,
    /// The commit, when known before the run (deploy); else the outcome's.
    pub commit: CommitInfo,
}

/// SNS's limit: "less than 100 characters", no line breaks or control characters (API
/// reference, Publish, Subject); kept to printable ASCII, which every endpoint shows.
const SUBJECT_MAX: usize = 99;

/// The outcome's facts, whatever the command.
struct Facts<'a> {
    status: String,
    deployment_id: Option<&'a str>,
    revision: Option<&'a str>,
    what: Option<String>,
    commit: CommitInfo,
    build: Option<&'a str>,
    build_page: Option<&'a str>,
    /// From the trigger to the last instance done (a deploy that ended).
    timeline: &'a [crate::deployment::timeline::Mark],
}

fn facts<'a>(notice: &Notice<'_>, result: &'a Result<Report>) -> Facts<'a> {
    let mut f = Facts {
        status: String::new(),
        deployment_id: None,
        revision: None,
        what: None,
        commit: notice.commit.clone(),
        build: None,
        build_page: None,
        timeline: &[],
    };
    let id_only = |commit: &Option<String>, known: &CommitInfo| match commit {
        Some(id) if known.id.as_deref() != Some(id.as_str()) => CommitInfo::id(Some(id)),
        _ => known.clone(),
    };
    match result {
        Err(err) => f.status = format!("failed (exit {})", err.exit_code()),
        Ok(Report::Deployment(o)) => {
            f.status = o.status.as_str().to_string();
            f.deployment_id = o.deployment_id.as_deref();
            f.revision = o.revision.as_deref();
            f.commit = o.commit.clone();
            f.build = o.build.as_deref();
            f.build_page = o.console.build.as_deref();
            f.timeline = &o.timeline;
        }
        Ok(Report::Rollback(o)) => {
            f.status = o.status.as_str().to_string();
            f.deployment_id = o.deployment_id.as_deref();
            f.revision = Some(&o.revision);
            f.what = Some(format!("rollback to the revision of {}", o.rollback_of));
            f.commit = id_only(&o.commit, &f.commit);
            f.build = o.build.as_deref();
        }
        Ok(Report::Promote(o)) => {
            f.status = o.status.as_str().to_string();
            f.deployment_id = o.deployment_id.as_deref();
            f.revision = Some(&o.revision);
            f.what = Some(format!("promotion of {}", o.promoted_from));
            f.commit = id_only(&o.commit, &f.commit);
            f.build = o.build.as_deref();
        }
        Ok(Report::Restart(o)) => {
            f.status = o.status.as_str().to_string();
            f.deployment_id = o.deployment_id.as_deref();
            f.revision = o.revision.as_deref();
            f.what = Some(format!("restart of {}", o.restart_of));
            f.commit = id_only(&o.commit, &f.commit);
            f.build = o.build.as_deref();
        }
        Ok(Report::Validate { status, .. }) => {
            f.status = format!("{status}, not deployed");
        }
        Ok(_) => f.status = "done".to_string(),
    }
    f
}

/// The subject: `APP/GROUP COMMAND STATUS SHORT-COMMIT`, printable ASCII, under 100
/// characters (the group's name is cut first, from its start).
pub(crate) fn subject(notice: &Notice<'_>, result: &Result<Report>) -> String {
    let f = facts(notice, result);
    let short: String = f
        .commit
        .id
        .as_deref()
        .unwrap_or("")
        .chars()
        .take(7)
        .collect();
    let tail = format!(
        " {} {}{}",
        notice.command,
        f.status,
        if short.is_empty() {
            String::new()
        } else {
            format!(" {short}")
        }
    );
    let ascii = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect()
    };
    let tail = ascii(&tail);
    let mut target = ascii(&format!("{}/{}", notice.application, notice.group));
    let room = SUBJECT_MAX.saturating_sub(tail.len());
    if target.len() > room {
        let keep = room.saturating_sub(3);
        target = format!("...{}", &target[target.len() - keep..]);
    }
    let mut subject = format!("{target}{tail}");
    subject.truncate(SUBJECT_MAX);
    subject
}

/// The body, for people: one fact per line, then the failure's reason.
pub(crate) fn body(notice: &Notice<'_>, result: &Result<Report>) -> String {
    let f = facts(notice, result);
    let mut text = format!(
        "{} of {}/{}: {}\n\n",
        notice.command, notice.application, notice.group, f.status
    );
    let mut line = |name: &str, value: Option<&str>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            text.push_str(&format!("{name:<11} {value}\n"));
        }
    };
    line("what", f.what.as_deref());
    line("deployment", f.deployment_id);
    let console = f
        .deployment_id
        .and_then(|id| deployment_link(notice.region, id));
    line("console", console.as_deref());
    line("revision", f.revision);
    line("commit", f.commit.id.as_deref());
    line("branch", f.commit.branch.as_deref());
    line("author", f.commit.author.as_deref());
    line("subject", f.commit.subject.as_deref());
    line("build", f.build);
    line("build page", f.build_page);
    let timeline = crate::deployment::timeline::lines(f.timeline);
    if !timeline.is_empty() {
        text.push_str("\ntimeline\n");
        for row in timeline {
            text.push_str(&format!("  {row}\n"));
        }
    }
    if let Err(err) = result {
        text.push('\n');
        text.push_str(&err.to_string());
        text.push('\n');
        if let Error::Invalid(diags) = err {
            for d in diags.errors() {
                text.push_str(&format!("  {d}\n"));
            }
        }
    }
    text
}

/// Publishes the outcome when a topic is given; a failure is a warning.
pub(crate) async fn publish(topic: Option<&str>, notice: &Notice<'_>, result: &Result<Report>) {
    let Some(topic) = topic.filter(|t| !t.is_empty()) else {
        return;
    };
    let Some(client) = sns::client_for(topic).await else {
        log(format!(
            "warning: --notify-topic {topic} is not an SNS topic ARN (arn:PARTITION:sns:REGION:ACCOUNT:NAME): nothing was published"
        ));
        return;
    };
    publish_with(&client, topic, notice, result).await;
}

/// [`publish`] through `client`: the message id, or `None` after a warning.
async fn publish_with(
    client: &crate::aws::query::QueryClient,
    topic: &str,
    notice: &Notice<'_>,
    result: &Result<Report>,
) -> Option<String> {
    match sns::publish(
        client,
        topic,
        &subject(notice, result),
        &body(notice, result),
    )
    .await
    {
        Ok(id) => {
            log(format!("outcome published to {topic} (message {id})"));
            Some(id)
        }
        Err(err) => {
            log(format!("warning: {err}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(commit: CommitInfo) -> Notice<'static> {
        Notice {
            command: "deploy",
            application: "shop",
            group: "web",
            region: "ap-southeast-7",
            commit,
        }
    }

    fn alarm_stop() -> Error {
        Error::DeploymentFailed {
            deployment_id: "d-7Q2X".into(),
            status: "was stopped by CloudWatch alarm web-5xx".into(),
            details: vec![
                "alarm web-5xx: ALARM since 2026-12-07T10:02:00Z: Threshold Crossed".into(),
                "rolled back by deployment d-RB".into(),
            ],
            alarms: Vec::new(),
        }
    }

    /// The format people read, pinned: a change here is a change they see.
    #[test]
    fn a_failure_s_message_names_group_status_commit_and_reason() {
        let commit = CommitInfo {
            id: Some("c0ffee1234567890".into()),
            branch: Some("main".into()),
            author: Some("Zoë Dev".into()),
            subject: Some("Fix the login page".into()),
        };
        let n = notice(commit);
        let result = Err(alarm_stop());
        assert_eq!(
            subject(&n, &result),
            "shop/web deploy failed (exit 5) c0ffee1"
        );
        assert_eq!(
            body(&n, &result),
            "deploy of shop/web: failed (exit 5)\n\
             \n\
             commit      c0ffee1234567890\n\
             branch      main\n\
             author      Zoë Dev\n\
             subject     Fix the login page\n\
             \n\
             deployment d-7Q2X was stopped by CloudWatch alarm web-5xx\n  \
             alarm web-5xx: ALARM since 2026-12-07T10:02:00Z: Threshold Crossed\n  \
             rolled back by deployment d-RB\n"
        );
    }

    /// A succeeded deploy of `timeline`.
    fn succeeded(timeline: Vec<crate::deployment::timeline::Mark>) -> Result<Report> {
        use crate::bundle::writer::{BundleFormat, MergeMode};
        Ok(Report::Deployment(Box::new(
            crate::commands::deploy::DeployOutcome {
                status: crate::deployment::Outcome::Succeeded,
                app_archive: "s3://releases/app.tgz".into(),
                app_archive_etag: None,
                app_archive_version_id: None,
                bundle: crate::revision::BundleInfo {
                    path: std::path::PathBuf::new(),
                    bundle_type: BundleFormat::Tgz,
                    size_bytes: 1,
                    sha256: "0".repeat(64),
                    merge: MergeMode::Append,
                    entries: crate::revision::EntryCounts {
                        app: 1,
                        codedeploy: 1,
                        overridden: 0,
                    },
                    release_bytes_kept: 0,
                    release_members_joined: None,
                    reencoded_because: None,
                    bytes_written: 1,
                },
                revision: Some("s3://artifacts/bundles/shop/c0ffee1/b-7.tgz".into()),
                revision_etag: None,
                revision_version_id: None,
                bytes_copied_in_s3: 0,
                bytes_written: 2,
                bytes_sent_during_download: 0,
                deployment_id: Some("d-7Q2X".into()),
                final_status: Some("Succeeded".into()),
                superseded_by: None,
                commit: CommitInfo::id(Some("c0ffee1234567890")),
                build: Some("shop-deploy:b-7".into()),
                console: crate::deployment::console::ConsoleLinks::default(),
                steps: Vec::new(),
                timeline,
                warnings: crate::base::diag::Diagnostics::default(),
            },
        )))
    }

    /// The timeline people read in a deploy's message, pinned: the date, a line per mark with
    /// the segment it ends, and the whole.
    #[test]
    fn a_deploy_s_message_carries_its_timeline() {
        use crate::deployment::timeline::Mark;
        let mark = |mark, at: &str, seconds, elapsed, detail: Option<&str>| Mark {
            mark,
            at: format!("2026-12-07T{at}Z"),
            seconds,
            elapsed,
            detail: detail.map(str::to_string),
        };
        let timeline = vec![
            mark("trigger", "10:00:00", None, 0.0, None),
            mark("build started", "10:00:02", Some(2.0), 2.0, None),
            mark("provisioned", "10:00:25", Some(23.0), 25.0, None),
            mark("tool started", "10:00:30", Some(5.0), 30.0, None),
            mark("uploaded", "10:00:35.5", Some(5.5), 35.5, None),
            mark("deployment created", "10:00:36", Some(0.5), 36.0, None),
            mark(
                "first instance event",
                "10:00:40.2",
                Some(4.2),
                40.2,
                Some("i-0abc ApplicationStop"),
            ),
            mark(
                "last instance done",
                "10:01:33.4",
                Some(53.2),
                93.4,
                Some("i-0abc ValidateService"),
            ),
            mark("end seen", "10:01:35", Some(1.6), 95.0, None),
        ];
        let n = notice(CommitInfo::id(Some("c0ffee1234567890")));
        let result = succeeded(timeline);
        assert_eq!(subject(&n, &result), "shop/web deploy succeeded c0ffee1");
        assert_eq!(
            body(&n, &result),
            "deploy of shop/web: succeeded\n\
             \n\
             deployment  d-7Q2X\n\
             console     https://ap-southeast-7.console.aws.amazon.com/codesuite/codedeploy/deployments/d-7Q2X?region=ap-southeast-7\n\
             revision    s3://artifacts/bundles/shop/c0ffee1/b-7.tgz\n\
             commit      c0ffee1234567890\n\
             build       shop-deploy:b-7\n\
             \n\
             timeline\n  \
             UTC, 2026-12-07\n  \
             10:00:00.0  trigger\n  \
             10:00:02.0  build started        +2.0 s\n  \
             10:00:25.0  provisioned          +23.0 s\n  \
             10:00:30.0  tool started         +5.0 s\n  \
             10:00:35.5  uploaded             +5.5 s\n  \
             10:00:36.0  deployment created   +0.5 s\n  \
             10:00:40.2  first instance event +4.2 s (i-0abc ApplicationStop)\n  \
             10:01:33.4  last instance done   +53.2 s (i-0abc ValidateService)\n  \
             10:01:35.0  end seen             +1.6 s\n  \
             total 93.4 s, trigger to last instance done\n"
        );
    }

    const TOPIC: &str = "arn:aws-cn:sns:cn-north-1:123456789012:invisible-pipeline";

    /// Publish as the SNS API reference shows it, in the Query protocol: TopicArn, Subject,
    /// Message in; `PublishResult/MessageId` out.
    #[tokio::test]
    async fn the_outcome_is_published_with_its_subject_and_body() {
        let n = notice(CommitInfo::id(Some("c0ffee1234")));
        let result = Err(alarm_stop());
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("TopicArn", TOPIC)
            .append_pair("Subject", &subject(&n, &result))
            .append_pair("Message", &body(&n, &result))
            .finish();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let log = seen.clone();
        let q = crate::aws::query::QueryClient::answering(
            move |body| {
                log.lock().unwrap().push(body.to_string());
                (200, "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult><MessageId>5f3d0b4a-0000-4000-8000-000000000001</MessageId></PublishResult><ResponseMetadata><RequestId>f187a3c1</RequestId></ResponseMetadata></PublishResponse>".to_string())
            },
            "cn-north-1",
        );
        let id = publish_with(&q, TOPIC, &n, &result).await;
        assert_eq!(id.as_deref(), Some("5f3d0b4a-0000-4000-8000-000000000001"));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(
            seen[0].starts_with("Action=Publish&Version=2010-03-31&"),
            "{}",
            seen[0]
        );
        assert!(seen[0].ends_with(&form), "{}", seen[0]);
    }

    /// AuthorizationError (HTTP 403, the Query protocol's XML error, as SNS answers a publish
    /// the role may not make): a warning, and the run's result is untouched.
    #[tokio::test]
    async fn a_denied_publish_is_a_warning() {
        let q = crate::aws::query::QueryClient::answering(
            |_| {
                (403, "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>User: arn:aws-cn:sts::123456789012:assumed-role/build/x is not authorized to perform: SNS:Publish on resource: arn:aws-cn:sns:cn-north-1:123456789012:invisible-pipeline because no identity-based policy allows the SNS:Publish action</Message></Error><RequestId>9a8b7c6d</RequestId></ErrorResponse>".to_string())
            },
            "cn-north-1",
        );
        let n = notice(CommitInfo::default());
        assert_eq!(publish_with(&q, TOPIC, &n, &Err(alarm_stop())).await, None);
    }

    #[test]
    fn the_subject_stays_printable_ascii_under_100_characters() {
        let n = Notice {
            application: "ä-very-long-application-name-that-someone-chose-for-reasons",
            group: "and-an-even-longer-deployment-group-name-for-the-staging-fleet",
            ..notice(CommitInfo::id(Some("abcdef0123")))
        };
        let s = subject(&n, &Err(alarm_stop()));
        assert!(s.len() < 100, "{} {s}", s.len());
        assert!(s.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{s}");
        assert!(s.ends_with(" deploy failed (exit 5) abcdef0"), "{s}");
        assert!(s.starts_with("..."), "{s}");
    }
}
