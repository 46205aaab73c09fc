//! The runtime as the service's [`RunHost`]: workers run queued run jobs
//! through it, and a server records the runs callers queue over HTTP.

use crate::{create_run, resume_run, RunOptions, RunRequest, RuntimeError, Setup};
use nocturne_service::{Access, AgentRun, NewRun, RunHost, RunResumed, Scoped, Service, ServiceError};
use std::time::Duration;

/// The runtime of one process: with a setup (agent definitions, model,
/// tool servers, limits) it records new runs; without one it only resumes
/// runs, each with the setup stored with it.
#[derive(Debug, Clone, Default)]
pub struct RuntimeHost {
    setup: Option<Setup>,
}

impl RuntimeHost {
    /// A host that records new runs with `setup` (`None`: it only resumes them).
    pub fn new(setup: Option<Setup>) -> Self {
        RuntimeHost { setup }
    }
}

impl RunHost for RuntimeHost {
    fn can_create(&self) -> bool {
        self.setup.is_some()
    }

    fn create(&self, scoped: &Scoped<'_>, req: &NewRun) -> Result<AgentRun, ServiceError> {
        let Some(setup) = &self.setup else {
            return Err(ServiceError::Invalid(
                "this process has no agent definitions or no model, so it cannot start runs".into(),
            ));
        };
        if let Some(c) = &req.context {
            if !c.is_object() {
                return Err(ServiceError::Invalid("context must be a JSON object".into()));
            }
        }
        let r = RunRequest {
            agent: req.agent.clone(),
            task: req.task.clone(),
            context: req.context.clone(),
            user: req.user.clone(),
            team: req.team.clone(),
        };
        create_run(scoped, setup, &r).map_err(RuntimeError::into_service)
    }

    fn resume(&self, svc: &Service, access: &Access, run: &str, lease: Duration) -> Result<RunResumed, ServiceError> {
        let opts = RunOptions { claim: Some(lease), ..RunOptions::default() };
        match resume_run(svc, access, run, opts) {
            Ok(o) => Ok(RunResumed::Ended(Box::new(o.run))),
            Err(RuntimeError::Claimed(_)) => Ok(RunResumed::Held),
            Err(e @ RuntimeError::NotResumable(_)) => {
                // Ended meanwhile (an earlier claim finished it): nothing left to run.
                let r = svc.scoped(access.clone()).agent_run(run)?;
                if r.state == "running" {
                    Err(e.into_service())
                } else {
                    Ok(RunResumed::Ended(Box::new(r)))
                }
            }
            Err(e) => Err(e.into_service()),
        }
    }
}
