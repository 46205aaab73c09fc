//! Scheduled dreams: `[[dream.schedule]]` entries of `nocturne.toml`, a
//! cron expression and/or "after N new sessions", with the dream's filters
//! and instructions and a policy (review, or auto-apply). One dream per
//! store at a time, under a lease lock that a crashed holder cannot keep;
//! failed runs are recorded with their error and retried with back-off.

use crate::{OpSelection, Result, Service, ServiceError};
use nocturne_dream::DreamSpec;
use nocturne_store::DreamRun;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Lock name for dreams: one at a time per store.
pub(crate) const DREAM_LOCK: &str = "dream";
/// Failed runs are retried at most this many times in all.
pub const MAX_ATTEMPTS: u32 = 5;

/// The `nocturne.toml` file (the parts the service reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub dream: DreamSection,
    /// The model (`[model]`: agent runs and model dreams), tool servers and
    /// runtime settings of agent runs, kept here as written (read and
    /// checked by the runtime and the binary; see docs/providers.md).
    #[serde(default)]
    pub model: Option<toml::Table>,
    #[serde(default)]
    pub mcp_server: Vec<toml::Table>,
    #[serde(default)]
    pub runtime: Option<toml::Table>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DreamSection {
    #[serde(default)]
    pub schedule: Vec<Schedule>,
}

/// What to do with a scheduled dream's proposal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Store the proposal for a person to review (default).
    #[default]
    Review,
    /// Apply every op at once (each apply is a revision you can roll back).
    AutoApply,
}

/// One `[[dream.schedule]]` entry: when to dream, what to do with the
/// proposal, and the dream itself (every key of a [`DreamSpec`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Schedule {
    pub name: String,
    /// Five-field cron expression, UTC: minute hour day-of-month month day-of-week.
    #[serde(default)]
    pub cron: Option<String>,
    /// Run when this many sessions were added since the schedule's last run.
    #[serde(default)]
    pub after_sessions: Option<u64>,
    /// Path of a dream instructions TOML file (the keys set here win over it).
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub policy: Policy,
    /// Add the model pass (the `[model]` table's model) to this dream.
    #[serde(default)]
    pub model: bool,
    /// What to dream over and how; unknown keys end up here and are refused.
    #[serde(flatten)]
    pub spec: DreamSpec,
}

impl Config {
    /// Parses and validates `nocturne.toml` text.
    pub fn parse(text: &str, source: &str) -> Result<Config> {
        let c: Config = toml::from_str(text).map_err(|e| ServiceError::invalid_file(source, e.to_string()))?;
        let mut names = std::collections::BTreeSet::new();
        for s in &c.dream.schedule {
            if !names.insert(s.name.clone()) {
                return Err(ServiceError::invalid_file(source, format!("two schedules are named {:?}", s.name)));
            }
            if s.cron.is_none() && s.after_sessions.is_none() {
                return Err(ServiceError::invalid_file(
                    source,
                    format!("schedule {:?} needs `cron` and/or `after_sessions`", s.name),
                ));
            }
            if let Some(c) = &s.cron {
                Cron::parse(c)
                    .map_err(|e| ServiceError::invalid_file(source, format!("schedule {:?}: {e}", s.name)))?;
            }
            s.spec.check().map_err(|e| ServiceError::InvalidFile {
                file: source.to_string(),
                field: e.field(),
                message: format!("schedule {:?}: {e}", s.name),
            })?;
            if s.after_sessions == Some(0) {
                return Err(ServiceError::invalid_file(
                    source,
                    format!("schedule {:?}: after_sessions must be ≥ 1", s.name),
                ));
            }
        }
        Ok(c)
    }
}

/// A parsed five-field cron expression (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minute: Vec<bool>,
    hour: Vec<bool>,
    dom: Vec<bool>,
    month: Vec<bool>,
    dow: Vec<bool>,
    dom_any: bool,
    dow_any: bool,
}

fn field(spec: &str, min: u32, max: u32, name: &str) -> std::result::Result<(Vec<bool>, bool), String> {
    let mut set = vec![false; max as usize + 1];
    let any = spec == "*";
    for part in spec.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| format!("bad step {s:?} in {name}"))?),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("step 0 in {name}"));
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (a.parse().map_err(|_| format!("bad {name} {a:?}"))?, b.parse().map_err(|_| format!("bad {name} {b:?}"))?)
        } else {
            let v: u32 = range.parse().map_err(|_| format!("bad {name} {range:?}"))?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{name} {range:?} is outside {min}-{max}"));
        }
        let mut v = lo;
        while v <= hi {
            if let Some(slot) = set.get_mut(v as usize) {
                *slot = true;
            }
            v += step;
        }
    }
    Ok((set, any))
}

fn has(set: &[bool], v: u32) -> bool {
    set.get(v as usize).copied().unwrap_or(false)
}

impl Cron {
    pub fn parse(expr: &str) -> std::result::Result<Cron, String> {
        let f: Vec<&str> = expr.split_whitespace().collect();
        let [mi, h, dom, mo, dow] = f.as_slice() else {
            return Err(format!("cron {expr:?} needs 5 fields: minute hour day-of-month month day-of-week"));
        };
        let (minute, _) = field(mi, 0, 59, "minute")?;
        let (hour, _) = field(h, 0, 23, "hour")?;
        let (dom, dom_any) = field(dom, 1, 31, "day of month")?;
        let (month, _) = field(mo, 1, 12, "month")?;
        let (mut dow, dow_any) = field(dow, 0, 7, "day of week")?;
        if has(&dow, 7) {
            if let Some(s) = dow.get_mut(0) {
                *s = true; // 7 is Sunday too
            }
        }
        Ok(Cron { minute, hour, dom, month, dow, dom_any, dow_any })
    }

    fn day_matches(&self, t: OffsetDateTime) -> bool {
        let dom = has(&self.dom, u32::from(t.day()));
        let dow = has(&self.dow, u32::from(t.weekday().number_days_from_sunday()));
        // Classic cron: when both are restricted, either may match.
        match (self.dom_any, self.dow_any) {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => dom,
            (false, false) => dom || dow,
        }
    }

    /// The first fire time strictly after `t` (within ~5 years), UTC.
    pub fn next_after(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        let mut c = t.replace_second(0).ok()?.replace_nanosecond(0).ok()? + Duration::minutes(1);
        let limit = t + Duration::days(366 * 5);
        while c <= limit {
            if !has(&self.month, u32::from(u8::from(c.month()))) || !self.day_matches(c) {
                c = (c + Duration::days(1)).replace_time(time::Time::MIDNIGHT);
                continue;
            }
            if !has(&self.hour, u32::from(c.hour())) {
                c = (c + Duration::hours(1)).replace_minute(0).ok()?;
                continue;
            }
            if !has(&self.minute, u32::from(c.minute())) {
                c += Duration::minutes(1);
                continue;
            }
            return Some(c);
        }
        None
    }
}

/// A schedule's next planned run, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub schedule: String,
    pub policy: Policy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cron: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_sessions: Option<u64>,
    /// Sessions added since the schedule's last run.
    pub new_sessions: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<String>,
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

fn fmt_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `now` (RFC 3339) plus `secs` seconds, as RFC 3339 (the epoch when `now` does not parse).
pub(crate) fn plus_seconds(now: &str, secs: u64) -> String {
    let t = parse_time(now).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    fmt_time(t + Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2)))
}

impl Service {
    /// What each schedule will do next.
    pub(crate) fn planned(&self, config: &Config) -> Result<Vec<Planned>> {
        let now = parse_time(&self.now()).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let runs = self.store.runs()?;
        let count = self.store.session_count()?;
        let mut out = Vec::new();
        for s in &config.dream.schedule {
            let last = runs.iter().find(|r| r.schedule == s.name);
            let next_cron =
                s.cron.as_deref().and_then(|c| Cron::parse(c).ok()).and_then(|c| c.next_after(now)).map(fmt_time);
            out.push(Planned {
                schedule: s.name.clone(),
                policy: s.policy,
                next_cron,
                after_sessions: s.after_sessions,
                new_sessions: count.saturating_sub(last.map_or(0, |r| r.sessions_seen)),
                retry_at: last.filter(|r| r.state == "failed").and_then(|r| r.next_retry_at.clone()),
            });
        }
        Ok(out)
    }

    /// Dream runs, newest first.
    pub(crate) fn runs(&self) -> Result<Vec<DreamRun>> {
        Ok(self.store.runs()?)
    }

    /// Runs every schedule that is due now, in this process (a system cron
    /// calls `nocturne dreams run-due`; `serve` enqueues due schedules every
    /// minute for its workers). Due schedules are enqueued as jobs first,
    /// so a schedule due in several processes at once runs once. Returns
    /// the runs it made.
    pub(crate) fn run_due(&self, config: &Config) -> Result<Vec<DreamRun>> {
        self.enqueue_due(config)?;
        self.release_dead_workers()?;
        let worker = crate::jobs::Worker::new(crate::jobs::JOB_LEASE)?;
        let worked = self.work_until_idle(&worker, &[crate::jobs::KIND_SCHEDULE])?;
        Ok(crate::jobs::runs_of(&worked))
    }

    /// Runs one schedule now, under the dream lock. `None` when another
    /// dream holds the lock.
    pub(crate) fn run_schedule(
        &self,
        s: &Schedule,
        trigger: &str,
        attempt: u32,
        sessions_seen: u64,
    ) -> Result<Option<DreamRun>> {
        let Some(_lock) = self.acquire_lock(DREAM_LOCK, crate::lease::LOCK_LEASE)? else {
            return Ok(None);
        };
        let now_s = self.now();
        let now = parse_time(&now_s).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        // A run left `running` by a crashed process is closed as failed
        // (whoever ran it held the lock we now hold).
        for stale in self.store.runs()?.into_iter().filter(|r| r.state == "running") {
            let mut r = stale;
            r.state = "failed".into();
            r.finished_at = Some(now_s.clone());
            r.error = Some("interrupted: the process running it stopped".into());
            r.next_retry_at = Some(now_s.clone());
            self.store.update_run(&r)?;
        }
        let mut run = DreamRun {
            id: crate::ids::new_id("run")?,
            schedule: s.name.clone(),
            state: "running".into(),
            attempt,
            started_at: now_s.clone(),
            finished_at: None,
            trigger: trigger.to_string(),
            sessions_seen,
            proposal: None,
            applied_revision: None,
            summary: None,
            error: None,
            next_retry_at: None,
        };
        self.store.insert_run(&run)?;
        let result = self.scheduled_dream(s);
        run.finished_at = Some(self.now());
        match result {
            Ok((pid, ops, rev)) => {
                run.state = "done".into();
                run.proposal = Some(pid.clone());
                run.applied_revision = rev;
                run.summary = Some(match (ops, rev) {
                    (0, _) => "no findings: nothing to propose".into(),
                    (n, Some(r)) => format!("applied {n} ops of {pid} as revision {r}"),
                    (n, None) => format!("{n} ops proposed in {pid}, waiting for review"),
                });
            }
            Err(e) => {
                run.state = "failed".into();
                run.error = Some(e.to_string());
                if attempt < MAX_ATTEMPTS {
                    let backoff = Duration::minutes(5 * (1i64 << (attempt.min(10) - 1)));
                    run.next_retry_at = Some(fmt_time(now + backoff));
                }
            }
        }
        self.store.update_run(&run)?;
        Ok(Some(run))
    }

    fn scheduled_dream(&self, s: &Schedule) -> Result<(String, usize, Option<u64>)> {
        let spec = match &s.instructions {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ServiceError::io(std::path::Path::new(p), e))?;
                crate::dreams::with_instructions(&s.spec, p, &text)?
            }
            None => s.spec.clone(),
        };
        let author = format!("schedule:{}", s.name);
        let (p, _) = self.dream_unlocked(&spec, false, &author, s.model)?;
        let ops = p.ops.len();
        let rev = if s.policy == Policy::AutoApply && ops > 0 {
            Some(self.apply_dream(&p.id, &OpSelection::default(), &author)?.rev)
        } else {
            None
        };
        Ok((p.id, ops, rev))
    }
}

/// A due schedule: why, the attempt number, and a slot naming this one
/// due run (the same in every process that sees it due).
pub(crate) struct Due {
    pub trigger: String,
    pub attempt: u32,
    pub slot: String,
}

/// [`due`] at `now` (RFC 3339).
pub(crate) fn due_now(s: &Schedule, last: Option<&DreamRun>, sessions: u64, now: &str) -> Option<Due> {
    due(s, last, sessions, parse_time(now).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// Why a schedule is due now, and the attempt number; `None` if not due.
fn due(s: &Schedule, last: Option<&DreamRun>, sessions: u64, now: OffsetDateTime) -> Option<Due> {
    let after = last.map_or_else(|| "start".to_string(), |r| r.id.clone());
    if let Some(r) = last {
        if r.state == "failed" {
            if let Some(at) = r.next_retry_at.as_deref().and_then(parse_time) {
                if at <= now {
                    return Some(Due {
                        trigger: format!("retry after: {}", r.error.as_deref().unwrap_or("failure")),
                        attempt: r.attempt + 1,
                        slot: format!("retry:{after}"),
                    });
                }
            }
        }
    }
    if let (Some(n), true) = (s.after_sessions, true) {
        let since = sessions.saturating_sub(last.map_or(0, |r| r.sessions_seen));
        if since >= n {
            return Some(Due {
                trigger: format!("{since} new sessions"),
                attempt: 1,
                slot: format!("sessions:{after}"),
            });
        }
    }
    if let Some(c) = s.cron.as_deref().and_then(|c| Cron::parse(c).ok()) {
        // Due when a fire time passed since the last run (or, never run,
        // within the last minute).
        let from = last.and_then(|r| parse_time(&r.started_at)).unwrap_or(now - Duration::minutes(1));
        if let Some(t) = c.next_after(from).filter(|t| *t <= now) {
            return Some(Due {
                trigger: format!("cron {}", s.cron.as_deref().unwrap_or("")),
                attempt: 1,
                slot: format!("cron:{}", fmt_time(t)),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn cron_finds_the_next_fire_time() {
        let nightly = Cron::parse("0 3 * * *").unwrap();
        assert_eq!(nightly.next_after(datetime!(2026-11-25 12:00 UTC)), Some(datetime!(2026-11-26 03:00 UTC)));
        assert_eq!(nightly.next_after(datetime!(2026-11-25 02:59 UTC)), Some(datetime!(2026-11-25 03:00 UTC)));
        let every15 = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(every15.next_after(datetime!(2026-11-25 12:07 UTC)), Some(datetime!(2026-11-25 12:15 UTC)));
        let mondays = Cron::parse("30 9 * * 1").unwrap();
        assert_eq!(mondays.next_after(datetime!(2026-11-25 12:00 UTC)), Some(datetime!(2026-11-30 09:30 UTC)));
        let weekdays = Cron::parse("0 18 * * 1-5").unwrap();
        assert_eq!(weekdays.next_after(datetime!(2026-11-27 19:00 UTC)), Some(datetime!(2026-11-30 18:00 UTC)));
        let first = Cron::parse("0 0 1 1,7 *").unwrap();
        assert_eq!(first.next_after(datetime!(2026-11-25 00:00 UTC)), Some(datetime!(2027-01-01 00:00 UTC)));
    }

    #[test]
    fn bad_cron_expressions_say_what_is_wrong() {
        assert!(Cron::parse("0 3 * *").unwrap_err().contains("5 fields"));
        assert!(Cron::parse("61 * * * *").unwrap_err().contains("minute"));
        assert!(Cron::parse("*/0 * * * *").unwrap_err().contains("step 0"));
    }

    #[test]
    fn config_needs_a_trigger_and_unique_names() {
        let ok = "[[dream.schedule]]\nname = \"nightly\"\ncron = \"0 3 * * *\"\npolicy = \"auto-apply\"\n";
        let c = Config::parse(ok, "nocturne.toml").unwrap();
        assert_eq!(c.dream.schedule[0].policy, Policy::AutoApply);
        let none = "[[dream.schedule]]\nname = \"x\"\n";
        assert!(Config::parse(none, "n").unwrap_err().to_string().contains("needs `cron`"));
        let twice = format!("{ok}{ok}");
        assert!(Config::parse(&twice, "n").unwrap_err().to_string().contains("two schedules"));
        assert!(Config::parse("[[dream.schedule]]\nname=\"x\"\ncron=\"bad\"\n", "n").is_err());
    }

    #[test]
    fn schedules_carry_a_whole_dream_spec_and_refuse_unknown_keys() {
        let ok = "[[dream.schedule]]\nname = \"web\"\nafter_sessions = 5\nteam = \"web\"\nnotes = \"web only\"\n\
                  focus = [\"mistakes\"]\n[dream.schedule.weights]\nsuccess_at = 0.8\n";
        let c = Config::parse(ok, "nocturne.toml").unwrap();
        let spec = &c.dream.schedule[0].spec;
        assert_eq!((spec.team.as_deref(), spec.notes.as_deref()), (Some("web"), Some("web only")));
        assert_eq!(spec.weights.success_at, Some(0.8));
        let typo = "[[dream.schedule]]\nname = \"web\"\nafter_sessions = 5\nteem = \"web\"\n";
        let e = Config::parse(typo, "nocturne.toml").unwrap_err().to_string();
        assert!(e.contains("nocturne.toml: schedule \"web\": ") && e.contains("unknown field `teem`"), "{e}");
        let bad = "[[dream.schedule]]\nname = \"web\"\nafter_sessions = 5\nfocus = [\"dance\"]\n";
        assert!(Config::parse(bad, "n").unwrap_err().to_string().contains("dance"));
    }

    fn run(state: &str, started: &str, seen: u64, retry: Option<&str>) -> DreamRun {
        DreamRun {
            id: "r".into(),
            schedule: "s".into(),
            state: state.into(),
            attempt: 1,
            started_at: started.into(),
            finished_at: None,
            trigger: "t".into(),
            sessions_seen: seen,
            proposal: None,
            applied_revision: None,
            summary: None,
            error: Some("boom".into()),
            next_retry_at: retry.map(str::to_string),
        }
    }

    #[test]
    fn schedules_are_due_by_cron_new_sessions_or_retry() {
        let s = Config::parse("[[dream.schedule]]\nname=\"s\"\ncron=\"0 3 * * *\"\nafter_sessions=10\n", "n")
            .unwrap()
            .dream
            .schedule
            .remove(0);
        let last = run("done", "2026-11-24T03:00:00Z", 100, None);
        assert!(due(&s, Some(&last), 105, datetime!(2026-11-24 12:00 UTC)).is_none());
        let d = due(&s, Some(&last), 110, datetime!(2026-11-24 12:00 UTC)).unwrap();
        assert!(d.trigger.contains("10 new sessions") && d.slot == "sessions:r", "{}", d.slot);
        let d = due(&s, Some(&last), 100, datetime!(2026-11-25 03:00 UTC)).unwrap();
        assert!(d.trigger.contains("cron") && d.slot == "cron:2026-11-25T03:00:00Z", "{}", d.slot);
        let d2 = due(&s, Some(&last), 100, datetime!(2026-11-25 03:00:40 UTC)).unwrap();
        assert_eq!(d.slot, d2.slot, "the same fire time is the same slot, whenever a process looks");
        let failed = run("failed", "2026-11-24T03:00:00Z", 100, Some("2026-11-24T03:05:00Z"));
        let d = due(&s, Some(&failed), 100, datetime!(2026-11-24 03:06 UTC)).unwrap();
        assert!(d.trigger.contains("retry") && d.attempt == 2);
        assert!(due(&s, Some(&failed), 100, datetime!(2026-11-24 03:04 UTC)).is_none());
    }
}
