//! CodeBuild, read-only: the run's own build (`BatchGetBuilds` of `$CODEBUILD_BUILD_ID`), its
//! start and its phases with their times, which begin the summary's timeline. CodeBuild speaks
//! AWS JSON 1.1; one call does not pay for an SDK crate, so it goes through the signed client
//! of [`query`](crate::aws::query). The answer is read as the API reference shows it
//! (<https://docs.aws.amazon.com/codebuild/latest/APIReference/API_BatchGetBuilds.html>,
//! `Build`, `BuildPhase`): timestamps are epoch seconds, possibly fractional.

use crate::aws::query::{QueryClient, Service};
use crate::base::error::Result;
use aws_smithy_types::DateTime;

/// One phase of a build (`BuildPhase`): its type (`QUEUED`, `PROVISIONING`, …), status and
/// times; a phase under way has no end yet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BuildPhase {
    pub kind: String,
    pub status: Option<String>,
    pub start: Option<DateTime>,
    pub end: Option<DateTime>,
    pub seconds: Option<i64>,
}

/// What the timeline needs of a build: when it started and its phases, in CodeBuild's order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BuildTimes {
    pub start: Option<DateTime>,
    pub phases: Vec<BuildPhase>,
}

/// The build `id` (`project:uuid`): `None` when CodeBuild lists it in `buildsNotFound`.
pub(crate) async fn build(client: &QueryClient, id: &str) -> Result<Option<BuildTimes>> {
    let input = serde_json::json!({ "ids": [id] });
    let answer = client
        .call_json(Service::CodeBuild, "BatchGetBuilds", &input)
        .await?;
    Ok(build_of(&answer, id))
}

/// The build `id` of a BatchGetBuilds answer.
fn build_of(answer: &serde_json::Value, id: &str) -> Option<BuildTimes> {
    let build = answer
        .get("builds")?
        .as_array()?
        .iter()
        .find(|b| b.get("id").and_then(|i| i.as_str()) == Some(id))?;
    let phases = build
        .get("phases")
        .and_then(|p| p.as_array())
        .map(|phases| phases.iter().filter_map(phase_of).collect())
        .unwrap_or_default();
    Some(BuildTimes {
        start: time(build.get("startTime")),
        phases,
    })
}

fn phase_of(phase: &serde_json::Value) -> Option<BuildPhase> {
    let text = |key: &str| phase.get(key).and_then(|v| v.as_str()).map(str::to_string);
    Some(BuildPhase {
        kind: text("phaseType")?,
        status: text("phaseStatus"),
        start: time(phase.get("startTime")),
        end: time(phase.get("endTime")),
        seconds: phase.get("durationInSeconds").and_then(|d| d.as_i64()),
    })
}

/// A JSON 1.1 timestamp: epoch seconds as a number, possibly fractional.
fn time(value: Option<&serde_json::Value>) -> Option<DateTime> {
    value
        .and_then(|v| v.as_f64())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(DateTime::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of the API reference's answer: a build in its BUILD phase (the phase under way
    /// has a start and no end), fractional epoch seconds.
    #[test]
    fn a_build_s_phases_are_read_with_their_times() {
        let answer = serde_json::json!({
            "builds": [{
                "id": "deploy:1", "arn": "arn:aws-cn:codebuild:cn-north-1:123456789012:build/deploy:1",
                "buildNumber": 7, "startTime": 1796637600.5, "currentPhase": "BUILD",
                "buildStatus": "IN_PROGRESS", "buildComplete": false,
                "phases": [
                    {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": 1796637600.5,
                     "endTime": 1796637601.25, "durationInSeconds": 0},
                    {"phaseType": "BUILD", "startTime": 1796637640.0}
                ]
            }],
            "buildsNotFound": []
        });
        let b = build_of(&answer, "deploy:1").unwrap();
        assert_eq!(b.start, Some(DateTime::from_secs_f64(1_796_637_600.5)));
        assert_eq!(b.phases.len(), 2);
        assert_eq!(b.phases[0].kind, "SUBMITTED");
        assert_eq!(
            b.phases[0].end,
            Some(DateTime::from_secs_f64(1_796_637_601.25))
        );
        assert_eq!(b.phases[0].seconds, Some(0));
        assert_eq!(
            (b.phases[1].status.as_deref(), b.phases[1].end),
            (None, None)
        );
        let missing = serde_json::json!({"builds": [], "buildsNotFound": ["deploy:2"]});
        assert_eq!(build_of(&missing, "deploy:2"), None);
    }
}
