//! Deployment windows and freezes (`--deploy-window`, `--freeze`): when a deploy may create its
//! deployment. A window is days of the week and a time of day in a time zone,
//! `Mon-Fri 09:00-16:00 Europe/Berlin`; one whose end is at or before its start runs past
//! midnight (`Fri 22:00-02:00 …`: from Friday 22:00 to Saturday 02:00), and `24:00` is an end.
//! A freeze is a span of whole days in a zone, `2026-12-20..2027-01-04 Europe/Berlin` (both
//! included), or one day. The zone's rules come from the IANA database bundled with the
//! binary (jiff), so a window means the same local hours on both sides of a daylight-saving
//! change, whatever the machine's own zone data.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// One deployment window.
#[derive(Debug, Clone)]
pub struct Window {
    /// Days it opens on, Monday first.
    days: [bool; 7],
    /// Seconds after midnight: `start` on a listed day, `end` on the same day, or the next
    /// when `end <= start`.
    start: u32,
    end: u32,
    zone: TimeZone,
    text: String,
}

/// A freeze: whole days, both ends included, in a zone.
#[derive(Debug, Clone)]
pub struct Freeze {
    from: Date,
    to: Date,
    zone: TimeZone,
    text: String,
}

/// When deploys may create deployments: inside any window (every time when none is given),
/// and never in a freeze.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    pub windows: Vec<Window>,
    pub freezes: Vec<Freeze>,
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn day_index(text: &str) -> Result<usize, String> {
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(text))
        .ok_or_else(|| format!("'{text}' is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))
}

/// `HH:MM` (or `HH:MM:SS`) as seconds after midnight; `24:00` as an end.
fn seconds(text: &str, end: bool) -> Result<u32, String> {
    let bad = || {
        format!(
            "'{text}' is not a time of day HH:MM{}",
            if end {
                " (24:00 allowed as an end)"
            } else {
                ""
            }
        )
    };
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return Err(bad());
    }
    let n: Vec<u32> = parts
        .iter()
        .map(|p| p.parse::<u32>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let (h, m, sec) = (n[0], n[1], n.get(2).copied().unwrap_or(0));
    match (h, m, sec) {
        (24, 0, 0) if end => Ok(24 * 3600),
        (0..=23, 0..=59, 0..=59) => Ok(h * 3600 + m * 60 + sec),
        _ => Err(bad()),
    }
}

fn zone(text: &str) -> Result<TimeZone, String> {
    TimeZone::get(text).map_err(|_| {
        format!("'{text}' is not a time zone of the IANA database (Europe/Berlin, America/Mexico_City, UTC, …)")
    })
}

impl std::str::FromStr for Window {
    type Err = String;

    /// `DAYS HH:MM-HH:MM ZONE`, DAYS a day, a range (`Mon-Fri`, `Fri-Mon`) or a list of them
    /// (`Mon,Wed,Fri`).
    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [days_text, hours, zone_text] = parts[..] else {
            return Err(format!(
                "'{text}' is not a window: write DAYS HH:MM-HH:MM ZONE, e.g. 'Mon-Fri 09:00-16:00 Europe/Berlin'"
            ));
        };
        let mut days = [false; 7];
        for item in days_text.split(',') {
            match item.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day_index(a)?, day_index(b)?);
                    let mut d = a;
                    loop {
                        days[d] = true;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => days[day_index(item)?] = true,
            }
        }
        let (start, end) = hours
            .split_once('-')
            .ok_or_else(|| format!("'{hours}' is not a time range HH:MM-HH:MM"))?;
        let (start, end) = (seconds(start, false)?, seconds(end, true)?);
        Ok(Window {
            days,
            start,
            end,
            zone: zone(zone_text)?,
            text: text.to_string(),
        })
    }
}

impl std::str::FromStr for Freeze {
    type Err = String;

    /// `YYYY-MM-DD[..YYYY-MM-DD] ZONE`.
    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [span, zone_text] = parts[..] else {
            return Err(format!(
                "'{text}' is not a freeze: write YYYY-MM-DD..YYYY-MM-DD ZONE (or one day), e.g. '2026-12-20..2027-01-04 Europe/Berlin'"
            ));
        };
        let date = |d: &str| -> Result<Date, String> {
            d.parse()
                .map_err(|_| format!("'{d}' is not a date YYYY-MM-DD"))
        };
        let (from, to) = match span.split_once("..") {
            Some((a, b)) => (date(a)?, date(b)?),
            None => (date(span)?, date(span)?),
        };
        if to < from {
            return Err(format!("'{span}' ends before it starts"));
        }
        Ok(Freeze {
            from,
            to,
            zone: zone(zone_text)?,
            text: text.to_string(),
        })
    }
}

fn weekday_index(w: Weekday) -> usize {
    w.to_monday_zero_offset() as usize
}

impl Window {
    /// True when the window is open at `at`.
    fn is_open(&self, at: Timestamp) -> bool {
        let local = at.to_zoned(self.zone.clone());
        let now = local.hour() as u32 * 3600 + local.minute() as u32 * 60 + local.second() as u32;
        let today = weekday_index(local.weekday());
        let yesterday = (today + 6) % 7;
        if self.end > self.start {
            self.days[today] && now >= self.start && now < self.end
        } else {
            (self.days[today] && now >= self.start) || (self.days[yesterday] && now < self.end)
        }
    }

    /// The instants the window opens at, on the local days from `at`'s to 15 days later.
    fn openings(&self, at: Timestamp) -> Vec<Timestamp> {
        let first = at.to_zoned(self.zone.clone()).date();
        (0..16)
            .filter_map(|i| first.checked_add(i.days()).ok())
            .filter(|d| self.days[weekday_index(d.weekday())])
            .filter_map(|d| {
                let time = Time::new(
                    (self.start / 3600) as i8,
                    (self.start / 60 % 60) as i8,
                    (self.start % 60) as i8,
                    0,
                )
                .ok()?;
                // A start in a daylight-saving gap opens at the first instant after it.
                d.to_datetime(time).to_zoned(self.zone.clone()).ok()
            })
            .map(|z: Zoned| z.timestamp())
            .collect()
    }
}

impl Freeze {
    fn covers(&self, at: Timestamp) -> bool {
        let day = at.to_zoned(self.zone.clone()).date();
        day >= self.from && day <= self.to
    }

    /// The first instant after the freeze: midnight after its last day.
    fn end(&self) -> Option<Timestamp> {
        let next = self.to.checked_add(1.day()).ok()?;
        next.to_zoned(self.zone.clone()).ok().map(|z| z.timestamp())
    }
}

/// Whether a deploy may create its deployment at `at`, and when it next may when not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Open,
    /// Closed: when it opens next (none within 15 days), and why it is closed.
    Closed {
        opens: Option<Timestamp>,
        why: String,
    },
}

impl Schedule {
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.freezes.is_empty()
    }

    fn open_at(&self, at: Timestamp) -> bool {
        !self.freezes.iter().any(|f| f.covers(at))
            && (self.windows.is_empty() || self.windows.iter().any(|w| w.is_open(at)))
    }

    /// The first second of the open stretch that holds `open`, after `after`: a window whose
    /// start falls in a daylight-saving gap (02:30 on a night that skips 02:00 to 03:00) opens
    /// at the gap's end, which the start, resolved as jiff resolves a missing local time
    /// (shifted by the gap), overshoots.
    fn first_open_before(&self, mut open: Timestamp, after: Timestamp) -> Timestamp {
        for _ in 0..180 {
            match open.checked_sub(1.minute()) {
                Ok(earlier) if earlier > after && self.open_at(earlier) => open = earlier,
                _ => break,
            }
        }
        open
    }

    /// The verdict at `at`.
    pub fn at(&self, at: Timestamp) -> Verdict {
        if self.open_at(at) {
            return Verdict::Open;
        }
        let why = match self.freezes.iter().find(|f| f.covers(at)) {
            Some(f) => format!("in the freeze {}", f.text),
            None => format!(
                "outside the deployment window{} {}",
                if self.windows.len() > 1 { "s" } else { "" },
                self.windows
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        let mut candidates: Vec<Timestamp> = self
            .windows
            .iter()
            .flat_map(|w| w.openings(at))
            .chain(self.freezes.iter().filter_map(Freeze::end))
            .filter(|c| *c > at)
            .collect();
        candidates.sort();
        let opens = candidates
            .into_iter()
            .find(|c| self.open_at(*c))
            .map(|c| self.first_open_before(c, at));
        Verdict::Closed { opens, why }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn schedule(windows: &[&str], freezes: &[&str]) -> Schedule {
        Schedule {
            windows: windows.iter().map(|w| w.parse().unwrap()).collect(),
            freezes: freezes.iter().map(|f| f.parse().unwrap()).collect(),
        }
    }

    fn opens(s: &Schedule, at: &str) -> Option<String> {
        match s.at(ts(at)) {
            Verdict::Open => None,
            Verdict::Closed { opens, .. } => Some(opens.map(|o| o.to_string()).unwrap_or_default()),
        }
    }

    #[test]
    fn office_hours_in_berlin() {
        let s = schedule(&["Mon-Fri 09:00-16:00 Europe/Berlin"], &[]);
        // Monday 2026-12-07 10:00 in Berlin is 09:00 UTC (CET, +01:00).
        assert_eq!(opens(&s, "2026-12-07T09:00:00Z"), None);
        // 16:00 Berlin is the end: closed; Tuesday 09:00 Berlin opens it.
        assert_eq!(
            opens(&s, "2026-12-07T15:00:00Z"),
            Some("2026-12-08T08:00:00Z".into())
        );
        // Saturday: Monday.
        assert_eq!(
            opens(&s, "2026-12-12T12:00:00Z"),
            Some("2026-12-14T08:00:00Z".into())
        );
    }

    #[test]
    fn the_same_local_hours_across_a_daylight_saving_change() {
        // Berlin moves from +01:00 to +02:00 on Sunday 2027-03-28: 09:00 local is 08:00 UTC
        // on Friday the 26th and 07:00 UTC on Monday the 29th.
        let s = schedule(&["Mon-Fri 09:00-16:00 Europe/Berlin"], &[]);
        assert_eq!(
            opens(&s, "2027-03-26T16:00:00Z"),
            Some("2027-03-29T07:00:00Z".into())
        );
        assert_eq!(opens(&s, "2027-03-29T07:30:00Z"), None);
        assert_eq!(
            opens(&s, "2027-03-26T07:30:00Z"),
            Some("2027-03-26T08:00:00Z".into())
        );
        // A start inside the spring-forward gap (02:30 does not exist) opens at 03:00 local.
        let gap = schedule(&["Sun 02:30-05:00 Europe/Berlin"], &[]);
        assert_eq!(
            opens(&gap, "2027-03-27T12:00:00Z"),
            Some("2027-03-28T01:00:00Z".into())
        );
    }

    #[test]
    fn a_window_past_midnight_and_24_00() {
        let s = schedule(&["Fri 22:00-02:00 UTC"], &[]);
        assert_eq!(opens(&s, "2026-12-11T23:00:00Z"), None); // Friday 23:00
        assert_eq!(opens(&s, "2026-12-12T01:59:00Z"), None); // Saturday 01:59
        assert_eq!(
            opens(&s, "2026-12-12T02:00:00Z"),
            Some("2026-12-18T22:00:00Z".into())
        );
        let s = schedule(&["Sat 18:00-24:00 UTC"], &[]);
        assert_eq!(opens(&s, "2026-12-12T23:59:00Z"), None);
        assert!(opens(&s, "2026-12-13T00:00:00Z").is_some());
    }

    #[test]
    fn a_freeze_holds_whole_days_in_its_zone() {
        let s = schedule(
            &["Mon-Fri 09:00-16:00 Europe/Berlin"],
            &["2026-12-21..2027-01-03 Europe/Berlin"],
        );
        assert_eq!(
            opens(&s, "2026-12-21T10:00:00Z"),
            Some("2027-01-04T08:00:00Z".into())
        );
        match s.at(ts("2026-12-21T10:00:00Z")) {
            Verdict::Closed { why, .. } => assert!(
                why.contains("in the freeze 2026-12-21..2027-01-03"),
                "{why}"
            ),
            Verdict::Open => panic!("frozen"),
        }
        // A freeze alone: every time outside it.
        let s = schedule(&[], &["2026-12-24 UTC"]);
        assert_eq!(
            opens(&s, "2026-12-24T12:00:00Z"),
            Some("2026-12-25T00:00:00Z".into())
        );
        assert_eq!(opens(&s, "2026-12-25T12:00:00Z"), None);
    }

    #[test]
    fn mistakes_name_the_part_at_fault() {
        let err = |w: &str| w.parse::<Window>().unwrap_err();
        assert!(err("Mon-Fry 09:00-16:00 UTC").contains("'Fry' is not a day"));
        assert!(err("Mon 9-16 UTC").contains("'9' is not a time of day"));
        assert!(err("Mon 9:00-16:00 UTC").contains("'9:00' is not a time of day"));
        assert!(err("Mon 09:00-24:30 UTC").contains("'24:30'"));
        assert!(err("Mon 24:00-02:00 UTC").contains("'24:00' is not a time of day HH:MM"));
        assert!(err("Mon 09:00-16:00 Europe/Berlinn").contains("not a time zone"));
        assert!(err("weekdays").contains("DAYS HH:MM-HH:MM ZONE"));
        assert!("2027-01-03..2026-12-21 UTC"
            .parse::<Freeze>()
            .unwrap_err()
            .contains("ends before it starts"));
    }
}
