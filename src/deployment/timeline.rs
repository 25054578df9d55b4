//! How long from a push to running code: the run's timeline. Its marks are the trigger (the
//! event's time), the CodeBuild build's start and the ends of its phases before the tool
//! (submitted, queued, provisioning, source, install, pre_build), the tool's own steps on the
//! wall clock (release downloaded, bundle checked, uploaded, CreateDeployment), and the
//! instances' lifecycle events (the first event, the last instance done) with CodeDeploy's
//! completion; each mark carries the length of the segment it ends. `history --timings`
//! shows the same instance part for past deployments. Everything but the lookups at the end
//! is pure: times in, marks and lines out.

use crate::aws::codebuild::{self, BuildTimes};
use crate::aws::codedeploy as cdapi;
use crate::aws::Clients;
use crate::base::diag::Diagnostics;
use crate::base::shutdown::Shutdown;
use crate::base::term::log;
use crate::deployment::config::DeployConfig;
use aws_sdk_codedeploy::types::{DeploymentInfo, InstanceTarget};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::Serialize;

/// One moment of a run, and the segment that ends there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mark {
    /// What happened: `trigger`, `build started`, `provisioned`, `tool started`, `uploaded`,
    /// `first instance event`, `last instance done`, …
    pub mark: &'static str,
    /// When (UTC, RFC 3339).
    pub at: String,
    /// The segment that ends here: seconds since the previous mark (none for the first).
    pub seconds: Option<f64>,
    /// Seconds since the first mark.
    pub elapsed: f64,
    /// The instance and lifecycle event of an instance mark.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One lifecycle event of an instance (CodeDeploy's `LifecycleEvent`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub name: String,
    pub status: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub seconds: Option<f64>,
    #[serde(skip)]
    start_at: Option<DateTime>,
    #[serde(skip)]
    end_at: Option<DateTime>,
}

/// An instance of a deployment and its lifecycle events, in CodeDeploy's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceEvents {
    pub instance: String,
    pub status: Option<String>,
    pub events: Vec<Event>,
}

/// When something happened on an instance, and how long after the deployment was created.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Moment {
    pub at: String,
    pub after_created_seconds: Option<f64>,
    pub instance: String,
    pub event: String,
}

/// A past deployment's times (`history --timings`): created, the first lifecycle event, the
/// last instance done, completed, and each instance's events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timings {
    pub created: Option<String>,
    pub completed: Option<String>,
    pub first_event: Option<Moment>,
    pub last_instance_done: Option<Moment>,
    /// Seconds from creation to completion.
    pub complete_seconds: Option<f64>,
    pub instances: Vec<InstanceEvents>,
    /// Why the instances are not shown (none reached, or they could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The times a run's timeline is made of.
pub(crate) struct Times<'a> {
    pub trigger: Option<DateTime>,
    pub build: Option<&'a BuildTimes>,
    pub tool_start: DateTime,
    /// The tool's steps, each with the moment it ended (`Timer::lap`'s names).
    pub laps: &'a [(&'static str, DateTime)],
    pub instances: &'a [InstanceEvents],
    /// CodeDeploy's `completeTime` of the followed deployment.
    pub complete: Option<DateTime>,
}

/// The mark at the end of a CodeBuild phase that comes before the tool (`BuildPhase`'s
/// `phaseType`); the BUILD phase is the tool's own.
fn phase_mark(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "SUBMITTED" => "submitted",
        "QUEUED" => "dequeued",
        "PROVISIONING" => "provisioned",
        "DOWNLOAD_SOURCE" => "source downloaded",
        "INSTALL" => "installed",
        "PRE_BUILD" => "pre_build done",
        _ => return None,
    })
}

/// The mark at the end of one of the tool's steps.
fn lap_mark(step: &'static str) -> &'static str {
    match step {
        "download" => "release downloaded",
        "bundle" => "bundle checked",
        "wait-for-group" => "group free",
        "upload" => "uploaded",
        "create-deployment" => "deployment created",
        "deployment" => "end seen",
        other => other,
    }
}

/// The first lifecycle event to start, of any instance.
fn first_event(instances: &[InstanceEvents]) -> Option<(DateTime, &str, &str)> {
    instances
        .iter()
        .flat_map(|i| i.events.iter().map(move |e| (i, e)))
        .filter_map(|(i, e)| Some((e.start_at?, i.instance.as_str(), e.name.as_str())))
        .min_by(|a, b| a.0.as_secs_f64().total_cmp(&b.0.as_secs_f64()))
}

/// The moment the last instance ended its last event.
fn last_done(instances: &[InstanceEvents]) -> Option<(DateTime, &str, &str)> {
    instances
        .iter()
        .flat_map(|i| i.events.iter().map(move |e| (i, e)))
        .filter_map(|(i, e)| Some((e.end_at?, i.instance.as_str(), e.name.as_str())))
        .max_by(|a, b| a.0.as_secs_f64().total_cmp(&b.0.as_secs_f64()))
}

/// The timeline of a run, in the order its parts happen.
pub(crate) fn assemble(t: &Times<'_>) -> Vec<Mark> {
    let mut raw: Vec<(&'static str, DateTime, Option<String>)> = Vec::new();
    if let Some(trigger) = t.trigger {
        raw.push(("trigger", trigger, None));
    }
    if let Some(build) = t.build {
        if let Some(start) = build.start {
            raw.push(("build started", start, None));
        }
        for phase in &build.phases {
            if let (Some(mark), Some(end)) = (phase_mark(&phase.kind), phase.end) {
                raw.push((mark, end, None));
            }
        }
    }
    raw.push(("tool started", t.tool_start, None));
    for &(step, at) in t.laps {
        if step == "deployment" {
            raw.extend(instance_marks(t.instances, t.complete));
        }
        raw.push((lap_mark(step), at, None));
    }
    marks(raw)
}

/// The instance part: the first event, the last instance done, CodeDeploy's completion.
fn instance_marks(
    instances: &[InstanceEvents],
    complete: Option<DateTime>,
) -> Vec<(&'static str, DateTime, Option<String>)> {
    let mut raw = Vec::new();
    if let Some((at, instance, event)) = first_event(instances) {
        raw.push((
            "first instance event",
            at,
            Some(format!("{instance} {event}")),
        ));
    }
    if let Some((at, instance, event)) = last_done(instances) {
        raw.push((
            "last instance done",
            at,
            Some(format!("{instance} {event}")),
        ));
    }
    if let Some(at) = complete {
        raw.push(("deployment complete", at, None));
    }
    raw
}

/// Marks with their segments: each one's length since the previous, and since the first.
fn marks(raw: Vec<(&'static str, DateTime, Option<String>)>) -> Vec<Mark> {
    let first = raw.first().map(|(_, at, _)| at.as_secs_f64());
    let mut previous: Option<f64> = None;
    raw.into_iter()
        .map(|(mark, at, detail)| {
            let secs = at.as_secs_f64();
            let m = Mark {
                mark,
                at: rfc3339(at),
                seconds: previous.map(|p| millis(secs - p)),
                elapsed: millis(secs - first.unwrap_or(secs)),
                detail,
            };
            previous = Some(secs);
            m
        })
        .collect()
}

/// Seconds, to the millisecond.
fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// RFC 3339 in UTC, to the millisecond.
fn rfc3339(at: DateTime) -> String {
    // Rounded, not cut: 1479832342.23 is 1479832342.2299999 as a double.
    let ms = DateTime::from_millis((at.as_secs_f64() * 1000.0).round() as i64);
    ms.fmt(Format::DateTime).unwrap_or_default()
}

/// `HH:MM:SS.s` (UTC) of an RFC 3339 time.
fn clock_time(rfc: &str) -> String {
    let Ok(at) = DateTime::from_str(rfc, Format::DateTime) else {
        return rfc.to_string();
    };
    let ms = at.to_millis().unwrap_or_default().rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000 / 100
    )
}

/// A segment's length with its sign: `+2.0 s`; a clock that differs between two sources
/// can make one negative.
fn signed(seconds: f64) -> String {
    let seconds = if seconds == 0.0 { 0.0 } else { seconds };
    format!("{seconds:+.1} s")
}

/// The timeline as people read it: the date, one line per mark (time of day, what, the
/// segment's length, the instance), and the whole.
pub fn lines(marks: &[Mark]) -> Vec<String> {
    let Some(first) = marks.first() else {
        return Vec::new();
    };
    let mut out = vec![format!("UTC, {}", first.at.get(..10).unwrap_or(&first.at))];
    for m in marks {
        let segment = m.seconds.map(signed).unwrap_or_default();
        let detail = m
            .detail
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        let line = format!("{}  {:<20} {segment}{detail}", clock_time(&m.at), m.mark);
        out.push(line.trim_end().to_string());
    }
    if let Some(last) = marks.iter().rev().find(|m| m.mark != "end seen") {
        out.push(format!(
            "total {:.1} s, {} to {}",
            last.elapsed, first.mark, last.mark
        ));
    }
    out
}

/// An instance's events as the timeline and `history --timings` read them.
pub(crate) fn instance_events(target: &InstanceTarget) -> InstanceEvents {
    let events = target
        .lifecycle_events()
        .iter()
        .map(|e| {
            let (start_at, end_at) = (e.start_time().copied(), e.end_time().copied());
            Event {
                name: e.lifecycle_event_name().unwrap_or("?").to_string(),
                status: e.status().map(|s| s.as_str().to_string()),
                start: start_at.map(rfc3339),
                end: end_at.map(rfc3339),
                seconds: start_at
                    .zip(end_at)
                    .map(|(s, e)| millis(e.as_secs_f64() - s.as_secs_f64())),
                start_at,
                end_at,
            }
        })
        .collect();
    InstanceEvents {
        instance: target.target_id().unwrap_or("?").to_string(),
        status: target.status().map(|s| s.as_str().to_string()),
        events,
    }
}

/// A past deployment's times, from its info and its instances (or why there are none).
pub(crate) fn timings(
    info: &DeploymentInfo,
    targets: std::result::Result<Vec<InstanceTarget>, String>,
) -> Timings {
    let created = info.create_time().copied();
    let (instances, note) = match targets {
        Ok(targets) => (targets.iter().map(instance_events).collect(), None),
        Err(why) => (Vec::new(), Some(why)),
    };
    let after = |at: DateTime| created.map(|c| millis(at.as_secs_f64() - c.as_secs_f64()));
    let moment = |(at, instance, event): (DateTime, &str, &str)| Moment {
        at: rfc3339(at),
        after_created_seconds: after(at),
        instance: instance.to_string(),
        event: event.to_string(),
    };
    Timings {
        created: created.map(rfc3339),
        completed: info.complete_time().copied().map(rfc3339),
        first_event: first_event(&instances).map(moment),
        last_instance_done: last_done(&instances).map(moment),
        complete_seconds: info.complete_time().copied().and_then(after),
        instances,
        note,
    }
}

/// `history --timings` as text: the deployment's line, then one line per instance.
pub fn timings_lines(t: &Timings) -> Vec<String> {
    let plus = |s: Option<f64>| s.map_or("-".to_string(), signed);
    let mut head = vec![format!(
        "created {}",
        t.created.as_deref().map_or("-".to_string(), clock_time)
    )];
    if let Some(m) = &t.first_event {
        head.push(format!(
            "first event {} ({} {})",
            plus(m.after_created_seconds),
            m.instance,
            m.event
        ));
    }
    if let Some(m) = &t.last_instance_done {
        head.push(format!(
            "last instance done {} ({} {})",
            plus(m.after_created_seconds),
            m.instance,
            m.event
        ));
    }
    if t.completed.is_some() {
        head.push(format!("complete {}", plus(t.complete_seconds)));
    }
    let mut out = vec![head.join(", ")];
    let created = t
        .created
        .as_deref()
        .and_then(|c| DateTime::from_str(c, Format::DateTime).ok());
    for i in &t.instances {
        let events: Vec<String> = i
            .events
            .iter()
            .filter_map(|e| {
                let start = e.start_at?;
                let offset = created.map(|c| millis(start.as_secs_f64() - c.as_secs_f64()));
                let took = e
                    .seconds
                    .map(|s| format!(" ({s:.1} s)"))
                    .unwrap_or_default();
                Some(format!("{} {}{took}", e.name, plus(offset)))
            })
            .collect();
        out.push(format!(
            "  {} {}: {}",
            i.instance,
            i.status.as_deref().unwrap_or("?"),
            if events.is_empty() {
                "no event started".to_string()
            } else {
                events.join(", ")
            }
        ));
    }
    if let Some(note) = &t.note {
        out.push(format!("  instances: {note}"));
    }
    out
}

/// The tool's own marks on the wall clock: its start, then the end of each step; and the
/// deployment it followed to its end.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    start: DateTime,
    laps: Vec<(&'static str, DateTime)>,
    /// The followed deployment's id and CodeDeploy's completion time.
    followed: Option<(String, Option<DateTime>)>,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Clock {
            start: DateTime::from(std::time::SystemTime::now()),
            laps: Vec::new(),
            followed: None,
        }
    }

    /// `step` ends now.
    pub(crate) fn lap(&mut self, step: &'static str) {
        self.laps
            .push((step, DateTime::from(std::time::SystemTime::now())));
    }

    /// The deployment was followed to `info`, its last state: its instances' events belong
    /// to the timeline.
    pub(crate) fn followed(&mut self, info: &DeploymentInfo) {
        let id = info.deployment_id().unwrap_or_default().to_string();
        self.followed = Some((id, info.complete_time().copied()));
    }

    /// The run's timeline, read right before the summary: the build's phases (BatchGetBuilds;
    /// by now the BUILD phase, where the tool runs, has long begun, and the read never delays
    /// the deployment) and the followed deployment's instance events. What cannot be read is a
    /// note in `warnings`; the timeline goes without it.
    pub(crate) async fn told(
        &self,
        clients: &Clients,
        cfg: &DeployConfig,
        warnings: &mut Diagnostics,
        shutdown: &Shutdown,
    ) -> Vec<Mark> {
        let mut note = |message: String| {
            log(format!("warning: timeline: {message}"));
            warnings.warn("timeline", message);
        };
        let build = match &cfg.build_id {
            Some(id) => read_build(clients, cfg, id, shutdown)
                .await
                .map_err(&mut note)
                .ok(),
            None => None,
        };
        let (instances, complete) = match &self.followed {
            Some((id, complete)) => {
                let read = shutdown
                    .guard(async { Ok(cdapi::instance_targets(&clients.codedeploy, id).await) })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
                let targets = read.map_err(|why| {
                    note(format!(
                        "the instances' lifecycle events are not shown: {why}"
                    ))
                });
                let targets = targets.unwrap_or_default();
                (targets.iter().map(instance_events).collect(), *complete)
            }
            None => (Vec::new(), None),
        };
        assemble(&Times {
            trigger: Some(cfg.trigger_time),
            build: build.as_ref(),
            tool_start: self.start,
            laps: &self.laps,
            instances: &instances,
            complete,
        })
    }
}

/// The run's build (BatchGetBuilds), in its own region: the build ARN's, else the region the
/// run is in. `Err`: the note that says why the timeline has no build phases.
async fn read_build(
    clients: &Clients,
    cfg: &DeployConfig,
    id: &str,
    shutdown: &Shutdown,
) -> std::result::Result<BuildTimes, String> {
    let region = cfg
        .build_arn
        .as_deref()
        .and_then(|arn| arn.split(':').nth(3))
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .or_else(|| clients.s3.config().region().map(|r| r.to_string()))
        .unwrap_or_else(|| clients.deploy_region.clone());
    let client = clients.query.in_region(&region);
    match shutdown.guard(codebuild::build(&client, id)).await {
        Ok(Some(build)) => Ok(build),
        Ok(None) => Err(format!(
            "CodeBuild does not know build {id} (BatchGetBuilds: buildsNotFound): the timeline has no build phases"
        )),
        Err(err) => Err(format!(
            "could not read build {id} (the timeline has no build phases): {err}"
        )),
    }
}

/// A past deployment's timings (`history --timings`): its instances read with
/// ListDeploymentTargets and BatchGetDeploymentTargets; what cannot be read is the timings'
/// note, never the command's failure (a signal is).
pub(crate) async fn read_timings(
    clients: &Clients,
    info: &DeploymentInfo,
    shutdown: &Shutdown,
) -> crate::base::error::Result<Timings> {
    let id = info.deployment_id().unwrap_or_default();
    let targets = shutdown
        .guard(async { Ok(cdapi::instance_targets(&clients.codedeploy, id).await) })
        .await?;
    Ok(timings(info, targets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::codebuild::BuildPhase;

    fn at(secs: f64) -> DateTime {
        DateTime::from_secs_f64(1_796_637_600.0 + secs) // 2026-12-07T10:00:00Z + secs
    }

    fn phase(kind: &str, start: f64, end: f64) -> BuildPhase {
        BuildPhase {
            kind: kind.to_string(),
            status: Some("SUCCEEDED".into()),
            start: Some(at(start)),
            end: Some(at(end)),
            seconds: Some((end - start) as i64),
        }
    }

    fn event(name: &str, start: f64, end: f64) -> Event {
        Event {
            name: name.to_string(),
            status: Some("Succeeded".into()),
            start: Some(rfc3339(at(start))),
            end: Some(rfc3339(at(end))),
            seconds: Some(end - start),
            start_at: Some(at(start)),
            end_at: Some(at(end)),
        }
    }

    fn instance(id: &str, events: Vec<Event>) -> InstanceEvents {
        InstanceEvents {
            instance: id.to_string(),
            status: Some("Succeeded".into()),
            events,
        }
    }

    /// Each segment's length is the time between its two marks, in the order a run goes
    /// through them, whatever the source of each time.
    #[test]
    fn the_timeline_runs_from_the_trigger_to_the_last_instance() {
        let build = BuildTimes {
            start: Some(at(2.0)),
            phases: vec![
                phase("SUBMITTED", 2.0, 2.5),
                phase("QUEUED", 2.5, 3.0),
                phase("PROVISIONING", 3.0, 25.0),
                phase("DOWNLOAD_SOURCE", 25.0, 27.0),
                phase("INSTALL", 27.0, 29.0),
                phase("PRE_BUILD", 29.0, 29.0),
                BuildPhase {
                    end: None,
                    status: None,
                    seconds: None,
                    ..phase("BUILD", 29.0, 29.0)
                },
            ],
        };
        let laps = [
            ("download", at(32.0)),
            ("bundle", at(33.0)),
            ("wait-for-group", at(33.5)),
            ("upload", at(35.0)),
            ("create-deployment", at(35.5)),
            ("deployment", at(100.0)),
        ];
        let instances = [
            instance(
                "i-0abc",
                vec![
                    event("ApplicationStop", 39.7, 40.7),
                    event("AfterInstall", 41.0, 90.0),
                ],
            ),
            instance(
                "i-0def",
                vec![
                    event("ApplicationStop", 40.0, 41.0),
                    event("ValidateService", 42.0, 95.5),
                ],
            ),
        ];
        let marks = assemble(&Times {
            trigger: Some(at(0.0)),
            build: Some(&build),
            tool_start: at(30.0),
            laps: &laps,
            instances: &instances,
            complete: Some(at(96.0)),
        });
        let seen: Vec<(&str, Option<f64>)> = marks.iter().map(|m| (m.mark, m.seconds)).collect();
        assert_eq!(
            seen,
            [
                ("trigger", None),
                ("build started", Some(2.0)),
                ("submitted", Some(0.5)),
                ("dequeued", Some(0.5)),
                ("provisioned", Some(22.0)),
                ("source downloaded", Some(2.0)),
                ("installed", Some(2.0)),
                ("pre_build done", Some(0.0)),
                ("tool started", Some(1.0)),
                ("release downloaded", Some(2.0)),
                ("bundle checked", Some(1.0)),
                ("group free", Some(0.5)),
                ("uploaded", Some(1.5)),
                ("deployment created", Some(0.5)),
                ("first instance event", Some(4.2)),
                ("last instance done", Some(55.8)),
                ("deployment complete", Some(0.5)),
                ("end seen", Some(4.0)),
            ]
        );
        assert_eq!(marks[0].at, "2026-12-07T10:00:00Z");
        assert_eq!(marks[14].detail.as_deref(), Some("i-0abc ApplicationStop"));
        assert_eq!(marks[15].detail.as_deref(), Some("i-0def ValidateService"));
        assert_eq!(marks[15].elapsed, 95.5);
        let text = lines(&marks);
        assert_eq!(text[0], "UTC, 2026-12-07");
        assert_eq!(text[1], "10:00:00.0  trigger");
        assert_eq!(
            text[16],
            "10:01:35.5  last instance done   +55.8 s (i-0def ValidateService)"
        );
        assert_eq!(
            text.last().unwrap(),
            "total 96.0 s, trigger to deployment complete"
        );
    }

    /// Without a build (a local run) and without following (`--no-wait`): the tool's part.
    #[test]
    fn a_run_outside_codebuild_has_the_tool_s_part_only() {
        let laps = [("download", at(1.0)), ("bundle", at(1.25))];
        let marks = assemble(&Times {
            trigger: None,
            build: None,
            tool_start: at(0.0),
            laps: &laps,
            instances: &[],
            complete: None,
        });
        let seen: Vec<&str> = marks.iter().map(|m| m.mark).collect();
        assert_eq!(
            seen,
            ["tool started", "release downloaded", "bundle checked"]
        );
        assert_eq!(marks[2].seconds, Some(0.25));
        assert_eq!(marks[2].at, "2026-12-07T10:00:01.25Z");
    }

    #[test]
    fn a_past_deployment_s_timings_are_relative_to_its_creation() {
        let t = Timings {
            created: Some(rfc3339(at(1.0))),
            completed: Some(rfc3339(at(65.1))),
            first_event: Some(Moment {
                at: rfc3339(at(5.2)),
                after_created_seconds: Some(4.2),
                instance: "i-0abc".into(),
                event: "ApplicationStop".into(),
            }),
            last_instance_done: Some(Moment {
                at: rfc3339(at(64.0)),
                after_created_seconds: Some(63.0),
                instance: "i-0abc".into(),
                event: "ValidateService".into(),
            }),
            complete_seconds: Some(64.1),
            instances: vec![instance(
                "i-0abc",
                vec![
                    event("ApplicationStop", 5.2, 6.2),
                    event("ValidateService", 60.0, 64.0),
                ],
            )],
            note: None,
        };
        assert_eq!(
            timings_lines(&t),
            [
                "created 10:00:01.0, first event +4.2 s (i-0abc ApplicationStop), last instance done +63.0 s (i-0abc ValidateService), complete +64.1 s",
                "  i-0abc Succeeded: ApplicationStop +4.2 s (1.0 s), ValidateService +59.0 s (4.0 s)",
            ]
        );
    }
}
