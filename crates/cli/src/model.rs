//! `--model`, `NOCTURNE_MODEL`, `[model]`: which model a dream uses, and
//! `nocturne doctor model`. The key is read from the environment variable
//! the configuration names (`NOCTURNE_MODEL_KEY` by default) by the
//! provider crate; it is never printed, logged or stored.

use anyhow::Result;
use std::path::Path;

/// The model configuration in force: the `[model]` table of the
/// configuration file, with `--model` / `NOCTURNE_MODEL` (when given)
/// choosing provider, base URL and model over it (the table's other
/// settings are kept). `None`: no model. Model dreams and agent runs
/// (`nocturne run`, `nocturne runs resume`) both read the model here.
pub fn resolve(spec: Option<&str>, config: &Path) -> Result<Option<nocturne_provider::ModelConfig>> {
    let file = crate::commands::load_config(config)?;
    let table = match file.model {
        Some(t) => Some(
            t.try_into::<nocturne_provider::ModelConfig>()
                .map_err(|e| config_error(format!("{}: [model]: {e}", config.display())))?,
        ),
        None => None,
    };
    let from_spec = match spec.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(
            nocturne_provider::ModelConfig::from_spec(s)
                .map_err(|e| config_error(format!("--model / NOCTURNE_MODEL {s:?}: {e}")))?,
        ),
        None => None,
    };
    let out = match (table, from_spec) {
        (Some(mut t), Some(s)) => {
            t.provider = s.provider;
            t.base_url = s.base_url;
            t.model = s.model;
            Some(t)
        }
        (t, s) => s.or(t),
    };
    if let Some(c) = &out {
        #[cfg(feature = "model")]
        c.validate().map_err(nocturne_service::ServiceError::from)?;
        #[cfg(not(feature = "model"))]
        c.validate().map_err(|e| config_error(e.to_string()))?;
    }
    Ok(out)
}

/// A usage error of the model configuration (`model_config`, exit 2).
fn config_error(message: String) -> anyhow::Error {
    nocturne_service::ServiceError::Model { code: nocturne_service::ErrorCode::ModelConfig, message }.into()
}

/// Without the feature: a model asked for (`--model`, `NOCTURNE_MODEL`) is
/// a usage error that says how to get one. A `[model]` table alone is not:
/// agent runs read it too, and dreams stay deterministic.
#[cfg(not(feature = "model"))]
pub fn refuse(spec: Option<&str>) -> Result<()> {
    if spec.is_some_and(|s| !s.trim().is_empty()) {
        return Err(config_error(
            "this nocturne was built without model dreams: rebuild it with `--features model` \
             (or unset NOCTURNE_MODEL)"
                .into(),
        ));
    }
    Ok(())
}

/// The service with the model attached (the key read from its environment
/// variable), when one is configured.
#[cfg(feature = "model")]
pub fn attach(svc: nocturne_service::Service, c: &nocturne_provider::ModelConfig) -> Result<nocturne_service::Service> {
    let model = nocturne_provider::Model::from_config(c.clone()).map_err(nocturne_service::ServiceError::from)?;
    let meter = model.meter().clone();
    let mut dream = nocturne_service::ModelDream::new(std::sync::Arc::new(model), c.clone()).with_meter(meter);
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let bar = indicatif::ProgressBar::new(0).with_message(format!("model requests to {}", c.model));
        if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} {elapsed}") {
            bar.set_style(style);
        }
        dream = dream.with_progress(std::sync::Arc::new(move |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            if done == total {
                bar.finish_and_clear();
            }
        }));
    }
    Ok(svc.with_model(dream))
}
