use nocturne_fake_provider::{FakeServer, Reply, Script};
use nocturne_provider::{ApiKey, ManualClock, Model, ModelConfig, Provider};
use std::sync::Arc;

/// The key the tests send; it must appear in exactly one place of a request.
pub const KEY: &str = "sk-test-4f9a1c0e7b2d";

pub struct Setup {
    pub server: FakeServer,
    pub model: Model,
    pub clock: ManualClock,
}

pub fn config(provider: Provider, server: &FakeServer) -> ModelConfig {
    let base = match provider {
        Provider::Anthropic => server.url(),
        _ => server.openai_url(),
    };
    let mut c = ModelConfig::new(provider, base, "test-model");
    c.timeout_secs = 5.0;
    c.price_input_per_mtok = Some(3.0);
    c.price_output_per_mtok = Some(15.0);
    c
}

/// A model of `provider` against a fake running `script`, with a manual clock.
pub fn setup_with(provider: Provider, script: Script, tweak: impl FnOnce(&mut ModelConfig)) -> Setup {
    let server = FakeServer::start(script).unwrap();
    let mut c = config(provider, &server);
    tweak(&mut c);
    let clock = ManualClock::new();
    let model = Model::new(c, Some(ApiKey::new(KEY).unwrap())).unwrap().with_clock(Arc::new(clock.clone()));
    Setup { server, model, clock }
}

pub fn setup(provider: Provider, replies: impl IntoIterator<Item = Reply>) -> Setup {
    setup_with(provider, Script::queue(replies), |_| {})
}

/// Both wire formats, each in JSON and in SSE.
pub fn each_wire_and_mode() -> Vec<(Provider, bool)> {
    vec![(Provider::Anthropic, false), (Provider::Anthropic, true), (Provider::OpenAi, false), (Provider::OpenAi, true)]
}
