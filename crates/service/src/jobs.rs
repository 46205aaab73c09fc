//! The job queue: work that any process sharing the store may run, exactly
//! once. A job is enqueued (a requested dream, a due schedule), claimed by
//! one worker under a lease that the worker renews while it runs, and
//! finished with its result. A worker that dies stops renewing: after its
//! lease (or at once, when it ran on this machine and its process is gone)
//! another worker takes the job over. Every claim carries a fence (the
//! attempt number): a worker whose claim was taken over can neither renew
//! nor finish, and what a job writes is keyed by the job (a dream job's
//! proposal id is derived from the job id), so a taken-over job never makes
//! its result twice. An orchestration run's job (`run`) resumes the run
//! from its journal, so a run taken over from a dead worker goes on where
//! it stopped; the run's own claim keeps two workers off one run.

use crate::ids::{holder_is_gone, new_id, Process};
use crate::lease::later;
use crate::{Access, OpSelection, Result, Schedule, Scoped, Service, ServiceError};
use nocturne_dream::DreamSpec;
use nocturne_store::{AgentRun, Claim, DreamRun, Job, JobEnd, JobFilter, JobState, NewJob};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Job kinds this build runs.
pub const KIND_DREAM: &str = "dream";
pub const KIND_SCHEDULE: &str = "schedule";
/// An orchestration run, started or resumed from its journal (run by a
/// worker whose service has a [`RunHost`]).
pub const KIND_RUN: &str = "run";
const KINDS: &[&str] = &[KIND_DREAM, KIND_SCHEDULE];
/// Claims of a run job: more than a dream's, since a run held by another
/// process (a terminal's `runs resume`) is tried again later.
const RUN_MAX_ATTEMPTS: u32 = 6;

/// Default lease of a job; the worker renews it every third of that.
pub const JOB_LEASE: Duration = Duration::from_secs(30);
/// Claims before a job whose workers keep dying is failed.
const MAX_ATTEMPTS: u32 = 3;
/// When a scheduled dream finds the dream lock held, it is tried again after this.
const LOCK_RETRY: Duration = Duration::from_secs(30);

/// What a dream job runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DreamJob {
    pub spec: DreamSpec,
    #[serde(default)]
    pub apply: bool,
    pub author: String,
    /// With the model pass of the worker's model (a worker without one
    /// fails the job saying so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub model: bool,
}

/// What a schedule job runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ScheduleJob {
    schedule: Schedule,
    trigger: String,
    attempt: u32,
    sessions_seen: u64,
}

/// What a run job runs: the run, from its journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunJob {
    pub run: String,
    /// A resumption request (the run had started before).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resume: bool,
}

/// A new orchestration run, as a caller asks for it; the agent
/// definitions and the model are those of the process that records it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// The root agent's name.
    pub agent: String,
    pub task: String,
    /// A JSON object the root agent is given with its task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// How resuming a run as a job went.
#[derive(Debug, Clone)]
pub enum RunResumed {
    /// It ran to its end (now or earlier: an ended run has nothing left).
    Ended(Box<AgentRun>),
    /// Another live process holds the run's claim.
    Held,
}

/// The orchestration runtime, seen from the service (which sits below it):
/// the binary installs it with [`Service::with_run_host`], and workers then
/// claim run jobs.
pub trait RunHost: Send + Sync {
    /// Whether this process can record new runs (it has agent definitions and a model).
    fn can_create(&self) -> bool;
    /// Records a new run (not started) with this process's agents and
    /// model, as `scoped`'s caller.
    fn create(&self, scoped: &Scoped<'_>, req: &NewRun) -> Result<AgentRun>;
    /// Runs, or goes on with, a run from its journal, claiming it for
    /// `lease` (renewed while it runs); a holder on this machine that is
    /// gone is taken over.
    fn resume(&self, svc: &Service, access: &Access, run: &str, lease: Duration) -> Result<RunResumed>;
}

/// A worker: who it is in the store and how long its leases are.
#[derive(Debug, Clone)]
pub struct Worker {
    pub id: String,
    pub lease: Duration,
    /// How long to hold each claimed job before running it, renewing its
    /// lease (zero; tests use it to kill a worker in the middle of a job).
    pub hold: Duration,
}

impl Worker {
    /// A worker of this process (`HOST:PID:START:w-ID`).
    pub fn new(lease: Duration) -> Result<Worker> {
        Ok(Worker { id: Process::current().holder("w")?, lease, hold: Duration::ZERO })
    }
}

/// What one turn of a worker did.
#[derive(Debug, Clone)]
pub struct Worked {
    pub job: Job,
    /// The job as it ended (`None` when the claim was lost meanwhile).
    pub ended: Option<Job>,
}

fn to_value<T: Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| ServiceError::Invalid(format!("cannot encode a job: {e}")))
}

impl Service {
    /// Enqueues a dream for a worker; returns the queued job.
    pub(crate) fn submit_dream(&self, job: &DreamJob, team: Option<&str>) -> Result<Job> {
        job.spec.check().map_err(|e| ServiceError::spec(&e))?;
        crate::dreams::spec_filter(&job.spec)?;
        let now = self.now();
        let (j, _) = self.store.enqueue_job(&NewJob {
            id: new_id("job")?,
            kind: KIND_DREAM.into(),
            key: None,
            payload: to_value(job)?,
            team: team.map(str::to_string),
            submitted_by: job.author.clone(),
            created_at: now.clone(),
            run_after: now,
            max_attempts: MAX_ATTEMPTS,
        })?;
        Ok(j)
    }

    /// Enqueues a run (recorded, not started) for a worker: once per run
    /// for its start; a resumption only while no other job of the run is
    /// queued or running, and only of a run that has not ended.
    pub(crate) fn submit_run(&self, run: &AgentRun, author: &str, resume: bool) -> Result<Job> {
        if run.state != "running" {
            return Err(ServiceError::Conflict(format!("run {} has ended ({}); nothing to resume", run.id, run.state)));
        }
        if resume {
            if let Some(j) = self.open_run_job(&run.id)? {
                return Err(ServiceError::Conflict(format!(
                    "run {} already has job {} {}",
                    run.id,
                    j.job.id,
                    j.state.as_str()
                )));
            }
        }
        let now = self.now();
        let id = new_id("job")?;
        let key = if resume { None } else { Some(format!("run:{}", run.id)) };
        let (j, _) = self.store.enqueue_job(&NewJob {
            id,
            kind: KIND_RUN.into(),
            key,
            payload: to_value(&RunJob { run: run.id.clone(), resume })?,
            team: run.team.clone(),
            submitted_by: author.to_string(),
            created_at: now.clone(),
            run_after: now,
            max_attempts: RUN_MAX_ATTEMPTS,
        })?;
        Ok(j)
    }

    /// A queued or running job of `run`.
    fn open_run_job(&self, run: &str) -> Result<Option<Job>> {
        for state in [JobState::Running, JobState::Queued] {
            let f = JobFilter { state: Some(state), kind: Some(KIND_RUN.into()), ..Default::default() };
            for j in self.store.jobs(&f)? {
                if j.job.payload.get("run").and_then(|v| v.as_str()) == Some(run) {
                    return Ok(Some(j));
                }
            }
        }
        Ok(None)
    }

    /// Jobs, newest first.
    pub(crate) fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        Ok(self.store.jobs(filter)?)
    }

    pub(crate) fn job(&self, id: &str) -> Result<Job> {
        self.store.job(id)?.ok_or_else(|| ServiceError::NotFound { what: "job", id: id.to_string() })
    }

    /// Enqueues every schedule that is due now, once however many
    /// processes call this (each due run has a key). Returns the jobs that
    /// this call enqueued.
    pub(crate) fn enqueue_due(&self, config: &crate::Config) -> Result<Vec<Job>> {
        let now = self.now();
        let runs = self.store.runs()?;
        let count = self.store.session_count()?;
        let mut made = Vec::new();
        for s in &config.dream.schedule {
            let last = runs.iter().find(|r| r.schedule == s.name);
            let Some(d) = crate::schedule::due_now(s, last, count, &now) else {
                continue;
            };
            let payload =
                ScheduleJob { schedule: s.clone(), trigger: d.trigger, attempt: d.attempt, sessions_seen: count };
            let (j, new) = self.store.enqueue_job(&NewJob {
                id: new_id("job")?,
                kind: KIND_SCHEDULE.into(),
                key: Some(format!("schedule:{}:{}", s.name, d.slot)),
                payload: to_value(&payload)?,
                team: s.spec.team.clone(),
                submitted_by: "scheduler".into(),
                created_at: now.clone(),
                run_after: now.clone(),
                max_attempts: MAX_ATTEMPTS,
            })?;
            if new {
                made.push(j);
            }
        }
        Ok(made)
    }

    /// Puts back in the queue the running jobs whose worker ran on this
    /// machine and is gone, so they are taken over at once rather than
    /// when their lease ends. Returns how many.
    pub(crate) fn release_dead_workers(&self) -> Result<usize> {
        let now = self.now();
        let mut n = 0;
        for j in self.store.jobs(&JobFilter { state: Some(JobState::Running), ..Default::default() })? {
            if let Some(w) = &j.worker {
                if holder_is_gone(w)
                    && self.store.release_job(&j.job.id, &Claim { worker: w.clone(), attempt: j.attempts }, &now)?
                {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Claims one job (of `kinds`, or any this build runs) and runs it
    /// under a renewed lease. `None` when the queue has nothing to run.
    pub(crate) fn work_one(&self, worker: &Worker, kinds: &[&str]) -> Result<Option<Worked>> {
        let any = kinds.is_empty();
        let mut kinds: Vec<&str> = if any { KINDS.to_vec() } else { kinds.to_vec() };
        if any && self.run_host.is_some() {
            kinds.push(KIND_RUN);
        }
        // Without the runtime, run jobs are left to workers that have it.
        kinds.retain(|k| *k != KIND_RUN || self.run_host.is_some());
        if kinds.is_empty() {
            return Ok(None);
        }
        let now = self.now();
        let Some(job) = self.store.claim_job(&kinds, &worker.id, &now, &later(&now, worker.lease))? else {
            return Ok(None);
        };
        let claim = Claim { worker: worker.id.clone(), attempt: job.attempts };
        let id = job.job.id.clone();
        let (end, lost) = self.while_leased(&id, &claim, worker.lease, || {
            if !worker.hold.is_zero() {
                std::thread::sleep(worker.hold);
            }
            self.run_job(&job, worker.lease)
        });
        let end = match end {
            Ok(e) => e,
            Err(e) => JobEnd::Failed(e.to_string()),
        };
        let finished = !lost && self.store.finish_job(&id, &claim, &end, &self.now())?;
        let ended = if finished { self.store.job(&id)? } else { None };
        Ok(Some(Worked { job, ended }))
    }

    /// Runs jobs of `kinds` until none is left to run now; returns them.
    pub(crate) fn work_until_idle(&self, worker: &Worker, kinds: &[&str]) -> Result<Vec<Worked>> {
        let mut done = Vec::new();
        while let Some(w) = self.work_one(worker, kinds)? {
            done.push(w);
        }
        Ok(done)
    }

    fn run_job(&self, job: &Job, lease: Duration) -> Result<JobEnd> {
        match job.job.kind.as_str() {
            KIND_DREAM => self.run_dream_job(job),
            KIND_RUN => self.run_run_job(job, lease),
            KIND_SCHEDULE => {
                let p: ScheduleJob = serde_json::from_value(job.job.payload.clone())
                    .map_err(|e| ServiceError::Invalid(format!("job {}: {e}", job.job.id)))?;
                match self.run_schedule(&p.schedule, &p.trigger, p.attempt, p.sessions_seen)? {
                    Some(run) => Ok(JobEnd::Done(to_value(&run)?)),
                    None => Ok(JobEnd::Retry {
                        run_after: later(&self.now(), LOCK_RETRY),
                        why: "another dream holds the store; tried again later".into(),
                    }),
                }
            }
            other => Ok(JobEnd::Failed(format!("this build does not run jobs of kind {other:?}"))),
        }
    }

    /// A run job resumes its run from the journal: a run a dead worker
    /// left goes on where it stopped, a run that ended meanwhile is done.
    fn run_run_job(&self, job: &Job, lease: Duration) -> Result<JobEnd> {
        let p: RunJob = serde_json::from_value(job.job.payload.clone())
            .map_err(|e| ServiceError::Invalid(format!("job {}: {e}", job.job.id)))?;
        let Some(host) = self.run_host.clone() else {
            return Ok(JobEnd::Failed("this worker has no agent runtime".into()));
        };
        let access = Access::local_as(job.job.submitted_by.clone());
        match host.resume(self, &access, &p.run, lease)? {
            RunResumed::Ended(run) => Ok(JobEnd::Done(serde_json::json!({
                "run": run.id,
                "state": run.state,
                "status": run.result.as_ref().and_then(|r| r.get("status")).cloned(),
            }))),
            RunResumed::Held => Ok(JobEnd::Retry {
                run_after: later(&self.now(), lease),
                why: format!("run {} is held by another process; tried again later", p.run),
            }),
        }
    }

    /// A dream job's proposal is `d-` and the job's own id, so a job taken
    /// over after its first worker stored the proposal finds it and does
    /// not dream twice.
    fn run_dream_job(&self, job: &Job) -> Result<JobEnd> {
        let p: DreamJob = serde_json::from_value(job.job.payload.clone())
            .map_err(|e| ServiceError::Invalid(format!("job {}: {e}", job.job.id)))?;
        let pid = format!("d-{}", job.job.id.trim_start_matches("job-"));
        let done = |p: &nocturne_core::Proposal, rev: Option<u64>| {
            let mut result = serde_json::json!({"proposal": p.id, "ops": p.ops.len(), "revision": rev});
            if let Some(m) = model_summary(p) {
                result["model"] = m;
            }
            JobEnd::Done(result)
        };
        let existing = self.store.proposal(&pid)?;
        let proposal = match existing {
            Some(p) => p,
            // A clash: an earlier claim stored it meanwhile.
            None => match self.dream_as(&p.spec, &pid, job.job.team.as_deref(), p.model) {
                Ok(p) => p,
                Err(e) => self.store.proposal(&pid)?.ok_or(e)?,
            },
        };
        let mut rev = proposal.applied_revision;
        if p.apply && !proposal.ops.is_empty() && proposal.status == nocturne_core::ProposalStatus::Pending {
            rev = Some(self.apply_dream(&pid, &OpSelection::default(), &p.author)?.rev);
        }
        Ok(done(&proposal, rev))
    }
}

/// The model pass's figures of a proposal (requests, failures, tokens,
/// cost, ops dropped as unverified), when it ran: a job's result carries
/// them beside the proposal id.
pub fn model_summary(p: &nocturne_core::Proposal) -> Option<serde_json::Value> {
    p.stats.get("model.requests")?;
    let mut out = serde_json::Map::new();
    for k in [
        "model",
        "requests",
        "failed_requests",
        "retries",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "elapsed_ms",
        "ops_answered",
        "dropped_unverified",
        "errors",
    ] {
        if let Some(v) = p.stats.get(&format!("model.{k}")) {
            out.insert(k.to_string(), v.clone());
        }
    }
    Some(out.into())
}

/// The runs a list of worked schedule jobs made.
pub fn runs_of(worked: &[Worked]) -> Vec<DreamRun> {
    worked
        .iter()
        .filter_map(|w| w.ended.as_ref())
        .filter(|j| j.job.kind == KIND_SCHEDULE && j.state == JobState::Done)
        .filter_map(|j| j.result.clone().and_then(|r| serde_json::from_value(r).ok()))
        .collect()
}
