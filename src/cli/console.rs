//! What every command shares: where the vault is (the global options) and how to print.

use cartable_vault::Vault;

use crate::config::{Config, Overrides};

/// The operator's console: the global options, resolved into a configuration only by the commands that need one,
/// and the output.
pub(super) struct Console {
    overrides: Overrides,
    pub(super) out: Out,
}

impl Console {
    pub(super) fn new(overrides: Overrides, out: Out) -> Self {
        Console { overrides, out }
    }

    /// The configuration, with `cartable serve`'s `--listen` when given.
    pub(super) fn config(&self, listen: Option<String>) -> anyhow::Result<Config> {
        Ok(Config::resolve(&Overrides { listen, ..self.overrides.clone() })?)
    }

    pub(super) async fn open(&self) -> anyhow::Result<(Vault, Config)> {
        let config = self.config(None)?;
        let vault = Vault::open(config.vault.clone()).await?;
        Ok((vault, config))
    }
}

pub(super) struct Out {
    pub(super) json: bool,
}

impl Out {
    /// Prints `value` as JSON with --json, else `human`.
    pub(super) fn emit(&self, value: serde_json::Value, human: impl FnOnce() -> String) {
        if self.json {
            println!("{value}");
        } else {
            println!("{}", human());
        }
    }
}

/// A counter on standard error while a long command runs (hidden when standard error is not a terminal).
pub(super) fn counter(what: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {pos} {msg} ({elapsed})").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()));
    bar.set_message(what);
    bar
}
