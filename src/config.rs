//! Configuration: one TOML file plus `CARTABLE_*` environment variables plus flags, in rising precedence.

use std::path::{Path, PathBuf};

use cartable_consent::AgeRules;
use cartable_vault::VaultConfig;
use serde::Deserialize;

/// The commented default configuration, printed by `cartable default-config`.
pub const DEFAULT_CONFIG: &str = r#"# Cartable configuration. Every key may also be set as an environment variable
# (CARTABLE_DATA, CARTABLE_DATABASE_URL, CARTABLE_MASTER_KEY_FILE, CARTABLE_LISTEN, ...)
# or as a command-line flag; flags win over variables, which win over this file.

# The data folder: the SQLite database (unless database_url says otherwise), blobs and keys.
data = "./cartable-data"

# The database. Empty means SQLite inside the data folder.
# For PostgreSQL: database_url = "postgres://cartable:secret@127.0.0.1:5432/cartable"
database_url = ""

# The master key file, which unlocks every family's key. Empty means <data>/keys/master.key.
# Keep it apart from backups: a backup without it reveals nothing.
master_key_file = ""

# The ledger signing key (Ed25519). Empty means <data>/keys/ledger.key.
ledger_key_file = ""

# The name this server signs ledger checkpoints with; each family's log is <origin>/ledger/<family id>.
ledger_origin = "cartable.localhost"

# Where `cartable serve` listens.
listen = "127.0.0.1:8080"

# How long an access token of the HTTP API lives, in seconds (never past its grant's end);
# a service gets a fresh one by continuing its request. (CARTABLE_ACCESS_TOKEN_TTL)
access_token_ttl = 3600

# The largest file an upload may bring, in bytes. (CARTABLE_MAX_FILE_BYTES)
max_file_bytes = 268435456

# How many password checks may run at once; sign-ins beyond them are answered 503 `busy` at once.
# Each takes about 19 MiB and a core: this bounds the memory a flood of sign-ins can take.
# 0 means twice the number of cores. (CARTABLE_MAX_CONCURRENT_SIGN_INS)
max_concurrent_sign_ins = 0

# Who may register a service over the API: "open" (anyone, a few per client address and hour) or
# "operator-approved" (registered services can ask for nothing until `cartable service approve`).
# (CARTABLE_REGISTRATION)
registration = "open"
# How long a client may take to send a request's line and headers, in seconds; a slower
# connection is closed. Bodies and long polls are not limited by it. (CARTABLE_HEADER_READ_TIMEOUT)
header_read_timeout = 10

# How many connections `cartable serve` serves at once; more wait until one closes.
# (CARTABLE_MAX_CONNECTIONS)
max_connections = 1024

# The age of digital consent (a child co-approves grants about their own data from it)
# and the age of majority (the child then owns their data). French law: 15 and 18.
digital_consent_age = 15
majority_age = 18
"#;

/// The configuration file's keys; all optional, the defaults above fill the gaps.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data: Option<PathBuf>,
    pub database_url: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub ledger_key_file: Option<PathBuf>,
    pub ledger_origin: Option<String>,
    pub listen: Option<String>,
    pub access_token_ttl: Option<u64>,
    pub max_file_bytes: Option<u64>,
    pub max_concurrent_sign_ins: Option<u64>,
    pub registration: Option<String>,
    pub header_read_timeout: Option<u64>,
    pub max_connections: Option<u64>,
    pub digital_consent_age: Option<u8>,
    pub majority_age: Option<u8>,
}

/// Everything resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub vault: VaultConfig,
    pub listen: String,
    /// The HTTP API's settings (`cartable serve`).
    pub api: crate::api::ApiSettings,
    /// How `cartable serve` treats connections.
    pub server: crate::server::ServerSettings,
}

/// What the command line said (flags already merged with `CARTABLE_*` variables by clap).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data: Option<PathBuf>,
    pub database_url: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub listen: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file `{0}`")]
    Read(PathBuf),
    #[error("the configuration file `{path}` is invalid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{0}")]
    Rule(String),
}

fn nonempty<T: AsRef<Path>>(p: Option<T>) -> Option<T> {
    p.filter(|p| !p.as_ref().as_os_str().is_empty())
}

impl Config {
    pub fn resolve(overrides: &Overrides) -> Result<Config, ConfigError> {
        let file = match &overrides.config_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|_| ConfigError::Read(path.clone()))?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Invalid { path: path.clone(), reason: e.message().to_owned() })?
            }
            None => FileConfig::default(),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let data = overrides.data.clone().or(file.data).unwrap_or_else(|| PathBuf::from("./cartable-data"));
        let database_url = overrides.database_url.clone().filter(|u| !u.is_empty()).or(file.database_url.filter(|u| !u.is_empty()));
        let master_key_file = nonempty(overrides.master_key_file.clone()).or(nonempty(file.master_key_file));
        let ledger_key_file = nonempty(env("CARTABLE_LEDGER_KEY_FILE").map(PathBuf::from)).or(nonempty(file.ledger_key_file));
        let ledger_origin = env("CARTABLE_LEDGER_ORIGIN").or(file.ledger_origin).unwrap_or_else(|| "cartable.localhost".to_owned());
        let parse_age = |name: &str, from_file: Option<u8>, default: u8| -> Result<u8, ConfigError> {
            match env(name) {
                Some(v) => v.parse().map_err(|_| ConfigError::Rule(format!("{name} must be a whole number of years"))),
                None => Ok(from_file.unwrap_or(default)),
            }
        };
        let rules = AgeRules {
            digital_consent_age: parse_age("CARTABLE_DIGITAL_CONSENT_AGE", file.digital_consent_age, 15)?,
            majority_age: parse_age("CARTABLE_MAJORITY_AGE", file.majority_age, 18)?,
        };
        if rules.digital_consent_age == 0 || rules.digital_consent_age > rules.majority_age || rules.majority_age > 25 {
            return Err(ConfigError::Rule("the ages must satisfy 0 < digital_consent_age <= majority_age <= 25".to_owned()));
        }
        let listen = overrides.listen.clone().or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let number = |name: &str, from_file: Option<u64>| -> Result<Option<u64>, ConfigError> {
            match env(name) {
                Some(v) => v.parse().map(Some).map_err(|_| ConfigError::Rule(format!("{name} must be a whole number"))),
                None => Ok(from_file),
            }
        };
        let mut api = crate::api::ApiSettings::standard();
        if let Some(seconds) = number("CARTABLE_ACCESS_TOKEN_TTL", file.access_token_ttl)? {
            if !(1..=86_400).contains(&seconds) {
                return Err(ConfigError::Rule("access_token_ttl must be 1 to 86400 seconds".to_owned()));
            }
            api.token_ttl = std::time::Duration::from_secs(seconds);
        }
        if let Some(bytes) = number("CARTABLE_MAX_FILE_BYTES", file.max_file_bytes)? {
            if bytes == 0 {
                return Err(ConfigError::Rule("max_file_bytes must be positive".to_owned()));
            }
            api.max_file_bytes = bytes;
        }
        if let Some(n) = number("CARTABLE_MAX_CONCURRENT_SIGN_INS", file.max_concurrent_sign_ins)?.filter(|n| *n > 0) {
            api.max_concurrent_sign_ins = usize::try_from(n).map_err(|_| ConfigError::Rule("max_concurrent_sign_ins is too large".to_owned()))?;
        }
        let registration = env("CARTABLE_REGISTRATION").or(file.registration).unwrap_or_else(|| "open".to_owned());
        api.registration = match registration.as_str() {
            "open" => crate::api::Registration::Open,
            "operator-approved" => crate::api::Registration::OperatorApproved,
            _ => return Err(ConfigError::Rule("registration must be `open` or `operator-approved`".to_owned())),
        };
        let mut server = crate::server::ServerSettings::standard();
        if let Some(seconds) = number("CARTABLE_HEADER_READ_TIMEOUT", file.header_read_timeout)? {
            if !(1..=300).contains(&seconds) {
                return Err(ConfigError::Rule("header_read_timeout must be 1 to 300 seconds".to_owned()));
            }
            server.header_read_timeout = std::time::Duration::from_secs(seconds);
        }
        if let Some(count) = number("CARTABLE_MAX_CONNECTIONS", file.max_connections)? {
            if !(1..=1_000_000).contains(&count) {
                return Err(ConfigError::Rule("max_connections must be 1 to 1000000".to_owned()));
            }
            server.max_connections = count as usize;
        }
        Ok(Config {
            vault: VaultConfig { data_dir: data, database_url, master_key_file, ledger_key_file, age_rules: rules, ledger_origin },
            listen,
            api,
            server,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_default_config_parses_and_names_every_key() {
        let parsed: FileConfig = toml::from_str(DEFAULT_CONFIG).expect("default config parses");
        assert_eq!(parsed.data, Some(PathBuf::from("./cartable-data")));
        assert_eq!(parsed.digital_consent_age, Some(15));
        assert_eq!(parsed.majority_age, Some(18));
        assert_eq!(parsed.listen.as_deref(), Some("127.0.0.1:8080"));
        let standard = crate::api::ApiSettings::standard();
        assert_eq!(parsed.access_token_ttl, Some(standard.token_ttl.as_secs()));
        assert_eq!(parsed.max_file_bytes, Some(standard.max_file_bytes));
        assert_eq!(parsed.max_concurrent_sign_ins, Some(0));
        assert_eq!(parsed.registration.as_deref(), Some("open"));
        assert_eq!(standard.registration, crate::api::Registration::Open);
        let server = crate::server::ServerSettings::standard();
        assert_eq!(parsed.header_read_timeout, Some(server.header_read_timeout.as_secs()));
        assert_eq!(parsed.max_connections, Some(server.max_connections as u64));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("colour = \"blue\"").is_err());
    }
}
