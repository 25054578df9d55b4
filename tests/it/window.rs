//! Deployment windows and freezes through the deploy step, against scripted AWS answers: a
//! deploy outside its window fails at once with `--if-outside-window fail` (exit 9) or waits
//! until the window opens; one that would wait past `--wait-timeout` gives up (exit 7); either
//! way nothing is downloaded, uploaded or deployed before the window is open.

use crate::support::mocks::*;
use aws_sdk_codedeploy::types::DeploymentStatus;
use invisible_pipeline::base::error::{exit, Error};
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::commands::deploy;
use invisible_pipeline::deployment::window::{Freeze, Schedule, Window};
use invisible_pipeline::deployment::{IfOutsideWindow, Outcome};
use std::time::{Duration, Instant};

/// A freeze of today (UTC): closed now, open from midnight.
fn frozen_today() -> Schedule {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    Schedule {
        windows: Vec::new(),
        freezes: vec![format!("{today} UTC").parse::<Freeze>().unwrap()],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outside_the_window_fail_exits_9_and_does_nothing() {
    let (_tmp, mut cfg) = setup();
    cfg.schedule = frozen_today();
    cfg.if_outside_window = IfOutsideWindow::Fail;
    let (hb, put, cr) = (head_bucket("us-east-1"), put_object(), create());
    let c = clients(&[&hb, &put], &[&cr], &[]);
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OutsideWindow { .. }), "{err}");
    assert_eq!(err.exit_code(), exit::OUTSIDE_WINDOW);
    let text = err.to_string();
    assert!(
        text.contains("in the freeze") && text.contains("it opens at"),
        "{text}"
    );
    assert_eq!((put.num_calls(), cr.num_calls()), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_that_opens_after_the_wait_timeout_gives_up_at_once() {
    let (_tmp, mut cfg) = setup();
    cfg.schedule = frozen_today();
    cfg.busy_timeout = Duration::from_secs(5);
    let (hb, put, cr) = (head_bucket("us-east-1"), put_object(), create());
    let c = clients(&[&hb, &put], &[&cr], &[]);
    let started = Instant::now();
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::WAIT_TIMEOUT, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "no pointless wait"
    );
    assert_eq!((put.num_calls(), cr.num_calls()), (0, 0));
}

/// A window that opens two seconds from now (every day, in UTC, for an hour): the deploy
/// waits for it, then deploys.
#[tokio::test(flavor = "multi_thread")]
async fn a_window_that_opens_during_the_wait_is_waited_for() {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let start = now.checked_add(jiff::SignedDuration::from_secs(2)).unwrap();
    let end = start
        .checked_add(jiff::SignedDuration::from_secs(3600))
        .unwrap();
    let window = format!(
        "Mon-Sun {}-{} UTC",
        start.time().strftime("%H:%M:%S"),
        end.time().strftime("%H:%M:%S")
    );
    let (_tmp, mut cfg) = setup();
    cfg.schedule = Schedule {
        windows: vec![window.parse::<Window>().unwrap()],
        freezes: Vec::new(),
    };
    let get = get_deployment(&[DeploymentStatus::Succeeded]);
    let (c, usual) = usual_deploy(&[&get], &[]);
    let cr = &usual.create;
    let started = Instant::now();
    let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(cr.num_calls(), 1);
}
