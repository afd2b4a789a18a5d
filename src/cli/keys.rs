//! The master key: `cartable key …`.

use clap::Subcommand;
use serde_json::json;

use super::console::Console;

#[derive(Debug, Subcommand)]
pub(super) enum KeyCmd {
    /// Re-wrap every family key under a new master key and destroy the old one.
    Rotate,
}

impl KeyCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        match self {
            KeyCmd::Rotate => {
                let (vault, config) = console.open().await?;
                let count = vault.rotate_master_key().await?;
                console.out.emit(json!({"rewrapped": count, "master_key_file": config.vault.master_key_path()}), || {
                    format!("{count} family key(s) re-wrapped; the old master key is destroyed")
                });
            }
        }
        Ok(())
    }
}
