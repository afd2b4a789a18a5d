//! Logs go to stderr. They carry ids, routes, statuses and error kinds: never a family's plaintext or a key.

pub fn init(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CARTABLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default_level},sqlx=warn")));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
