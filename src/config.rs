//! Configuration: one TOML file plus `CARTABLE_*` environment variables plus flags, in rising precedence.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cartable_consent::AgeRules;
use cartable_vault::{BlobStoreConfig, S3Config, S3Credentials, VaultConfig};
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

# Where file contents and large record bodies go (all of it encrypted, named by ids only).
# Empty means <data>/blobs. For an S3-compatible store: blob_url = "s3://bucket" or "s3://bucket/prefix",
# with the settings below. (CARTABLE_BLOB_URL, or --blob-url)
blob_url = ""

# The S3 store's URL, e.g. "http://127.0.0.1:9000" (plain http only when written so); empty for AWS itself.
# Requests are path-style (<endpoint>/<bucket>/<key>). (CARTABLE_S3_ENDPOINT)
s3_endpoint = ""
# The store's region; empty means "us-east-1". (CARTABLE_S3_REGION)
s3_region = ""
# Its access key; both or neither. Neither lets the store find credentials itself (instance metadata on AWS).
# Prefer the variable for the secret over this file. (CARTABLE_S3_ACCESS_KEY_ID, CARTABLE_S3_SECRET_ACCESS_KEY)
s3_access_key_id = ""
s3_secret_access_key = ""

# How old, in seconds, a blob that no row names must be before a start removes it (what a crash between an
# upload's blob and its row leaves). Another server's upload claims its blob a moment after writing it: keep this
# well above the longest upload when several servers share the store. (CARTABLE_ORPHAN_BLOB_GRACE)
orphan_blob_grace = 900

# The master key file, which unlocks every family's key. Empty means <data>/keys/master.key.
# Keep it apart from backups: a backup without it reveals nothing.
master_key_file = ""

# The ledger signing key (Ed25519). Empty means <data>/keys/ledger.key.
ledger_key_file = ""

# The name this server signs ledger checkpoints with; each family's log is <origin>/ledger/<family id>.
ledger_origin = "cartable.localhost"

# Where `cartable serve` listens.
listen = "127.0.0.1:8080"

# The address people reach the web UI at, for the links the server and the console hand out (invitations).
# Empty means http:// and the listen address. With https, session cookies are marked Secure.
# (CARTABLE_PUBLIC_URL)
public_url = ""

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

# How often a service's long poll looks at its request again, in milliseconds, besides being woken by a
# decision: at once on this server, and on PostgreSQL through LISTEN/NOTIFY from any server.
# (CARTABLE_LONG_POLL_RECHECK_MS)
long_poll_recheck_ms = 500

# How long a client may take to send a request's line and headers, in seconds; a slower
# connection is closed. Bodies and long polls are not limited by it. (CARTABLE_HEADER_READ_TIMEOUT)
header_read_timeout = 10

# How long a request body may go without sending anything, in seconds; a stalled body is ended.
# An upload may take as long as it needs while it moves. (CARTABLE_BODY_IDLE_TIMEOUT)
body_idle_timeout = 30

# How many connections `cartable serve` serves at once; more wait until one closes.
# (CARTABLE_MAX_CONNECTIONS)
max_connections = 1024

# Notifications (a request awaits someone, a grant's first use, its coming end, its end) always show in the
# web UI; with an SMTP server they also go by e-mail, to the members who chose so. public_url must then be set
# (the messages link to it). Empty smtp_host: no e-mail. (CARTABLE_SMTP_HOST)
smtp_host = ""
# 0 means 587 for "starttls" and 465 for "tls". (CARTABLE_SMTP_PORT)
smtp_port = 0
# "starttls" (required, never plain) or "tls" (from the first byte). (CARTABLE_SMTP_TLS)
smtp_tls = "starttls"
# Both or neither; prefer the variable for the password. (CARTABLE_SMTP_USERNAME, CARTABLE_SMTP_PASSWORD)
smtp_username = ""
smtp_password = ""
# A PEM file of a CA to trust besides the system's. (CARTABLE_SMTP_CA_FILE)
smtp_ca_file = ""
# The sender of the e-mails, e.g. "Cartable <cartable@ecole.example>". (CARTABLE_MAIL_FROM)
mail_from = ""
# The first retry of an e-mail that could not be sent, in seconds; each next one waits twice as long, up to an
# hour. (CARTABLE_NOTIFY_RETRY_SECONDS)
notify_retry_seconds = 30
# How many days before a grant ends its members are told. (CARTABLE_EXPIRY_NOTICE_DAYS)
expiry_notice_days = 7

# Identity providers members may sign in with (OpenID Connect, authorization code flow with PKCE), one
# [[oidc]] table each, after every other key. A member links their account once, signed in, from "My account";
# an identity never makes an account. Register <public_url>/sign-in/oidc/<id>/callback at the provider.
# public_url must be set.
# [[oidc]]
# id = "educonnect"                  # letters, digits, -: the callback's part
# name = "EduConnect"                # the button's words
# issuer = "https://idp.example.org" # its discovery document is <issuer>/.well-known/openid-configuration
# client_id = "cartable"
# client_secret = "…"
# scopes = ["email"]                 # besides openid
# claim = "sub"                      # who the person is: sub, email (when verified) or preferred_username

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
    pub blob_url: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    pub orphan_blob_grace: Option<u64>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub access_token_ttl: Option<u64>,
    pub max_file_bytes: Option<u64>,
    pub max_concurrent_sign_ins: Option<u64>,
    pub registration: Option<String>,
    pub header_read_timeout: Option<u64>,
    pub body_idle_timeout: Option<u64>,
    pub long_poll_recheck_ms: Option<u64>,
    pub max_connections: Option<u64>,
    pub digital_consent_age: Option<u8>,
    pub majority_age: Option<u8>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u64>,
    pub smtp_tls: Option<String>,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub smtp_ca_file: Option<PathBuf>,
    pub mail_from: Option<String>,
    pub notify_retry_seconds: Option<u64>,
    pub expiry_notice_days: Option<u64>,
    #[serde(default)]
    pub oidc: Vec<crate::oidc::ProviderConfig>,
}

/// Everything resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub vault: VaultConfig,
    pub listen: String,
    /// The address people reach the web UI at, without a trailing slash.
    pub public_url: String,
    /// The HTTP API's settings (`cartable serve`).
    pub api: crate::api::ApiSettings,
    /// How `cartable serve` treats connections.
    pub server: crate::server::ServerSettings,
    /// Notifications: e-mail (when configured) and the notice before a grant ends.
    pub notify: crate::notify::NotifySettings,
}

/// Each key of the configuration file and the `CARTABLE_*` variable that sets it. `resolve` finds a key's variable
/// only here, and a test checks the table against the keys of `DEFAULT_CONFIG`, so the two cannot drift apart.
const VARIABLES: [(&str, &str); 32] = [
    ("data", "CARTABLE_DATA"),
    ("database_url", "CARTABLE_DATABASE_URL"),
    ("master_key_file", "CARTABLE_MASTER_KEY_FILE"),
    ("ledger_key_file", "CARTABLE_LEDGER_KEY_FILE"),
    ("ledger_origin", "CARTABLE_LEDGER_ORIGIN"),
    ("blob_url", "CARTABLE_BLOB_URL"),
    ("s3_endpoint", "CARTABLE_S3_ENDPOINT"),
    ("s3_region", "CARTABLE_S3_REGION"),
    ("s3_access_key_id", "CARTABLE_S3_ACCESS_KEY_ID"),
    ("s3_secret_access_key", "CARTABLE_S3_SECRET_ACCESS_KEY"),
    ("listen", "CARTABLE_LISTEN"),
    ("public_url", "CARTABLE_PUBLIC_URL"),
    ("access_token_ttl", "CARTABLE_ACCESS_TOKEN_TTL"),
    ("max_file_bytes", "CARTABLE_MAX_FILE_BYTES"),
    ("max_concurrent_sign_ins", "CARTABLE_MAX_CONCURRENT_SIGN_INS"),
    ("registration", "CARTABLE_REGISTRATION"),
    ("header_read_timeout", "CARTABLE_HEADER_READ_TIMEOUT"),
    ("body_idle_timeout", "CARTABLE_BODY_IDLE_TIMEOUT"),
    ("long_poll_recheck_ms", "CARTABLE_LONG_POLL_RECHECK_MS"),
    ("orphan_blob_grace", "CARTABLE_ORPHAN_BLOB_GRACE"),
    ("max_connections", "CARTABLE_MAX_CONNECTIONS"),
    ("digital_consent_age", "CARTABLE_DIGITAL_CONSENT_AGE"),
    ("majority_age", "CARTABLE_MAJORITY_AGE"),
    ("smtp_host", "CARTABLE_SMTP_HOST"),
    ("smtp_port", "CARTABLE_SMTP_PORT"),
    ("smtp_tls", "CARTABLE_SMTP_TLS"),
    ("smtp_username", "CARTABLE_SMTP_USERNAME"),
    ("smtp_password", "CARTABLE_SMTP_PASSWORD"),
    ("smtp_ca_file", "CARTABLE_SMTP_CA_FILE"),
    ("mail_from", "CARTABLE_MAIL_FROM"),
    ("notify_retry_seconds", "CARTABLE_NOTIFY_RETRY_SECONDS"),
    ("expiry_notice_days", "CARTABLE_EXPIRY_NOTICE_DAYS"),
];

/// The variable naming the configuration file, when `--config` does not.
const CONFIG_FILE_VARIABLE: &str = "CARTABLE_CONFIG";

fn variable(key: &str) -> &'static str {
    // INVARIANT: `resolve_from` asks only for keys of the table (the tests reach every one of them).
    VARIABLES.iter().find(|(k, _)| *k == key).map(|(_, name)| *name).expect("every configuration key has a variable")
}

/// What the flags said; the `CARTABLE_*` variables are read by [`Config::resolve`], not by the command line.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data: Option<PathBuf>,
    pub database_url: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub blob_url: Option<String>,
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
    /// The configuration file, then the process's `CARTABLE_*` variables, then the flags.
    pub fn resolve(overrides: &Overrides) -> Result<Config, ConfigError> {
        Config::resolve_from(overrides, |name| std::env::var_os(name))
    }

    /// As [`Config::resolve`], with `vars` as the environment: tests pass their own rather than change the process's,
    /// which tests running at once would race on.
    fn resolve_from(overrides: &Overrides, vars: impl Fn(&str) -> Option<OsString>) -> Result<Config, ConfigError> {
        // A variable set but empty counts as unset.
        let os_var = |name: &str| vars(name).filter(|v| !v.is_empty());
        // Paths may be any OS string, as flags may; the other values must be text.
        let path_var = |key: &str| os_var(variable(key)).map(PathBuf::from);
        let var = |key: &str| -> Result<Option<String>, ConfigError> {
            let name = variable(key);
            os_var(name).map(|v| v.into_string().map_err(|_| ConfigError::Rule(format!("{name} must be valid UTF-8")))).transpose()
        };
        // A flag, else its variable (not read when the flag is given).
        let flag_or_var = |flag: &Option<String>, key: &str| match flag {
            Some(value) => Ok(Some(value.clone())),
            None => var(key),
        };
        let config_file = overrides.config_file.clone().or_else(|| os_var(CONFIG_FILE_VARIABLE).map(PathBuf::from));
        let file = match &config_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|_| ConfigError::Read(path.clone()))?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Invalid { path: path.clone(), reason: e.message().to_owned() })?
            }
            None => FileConfig::default(),
        };
        let data = overrides.data.clone().or_else(|| path_var("data")).or(file.data).unwrap_or_else(|| PathBuf::from("./cartable-data"));
        let database_url = flag_or_var(&overrides.database_url, "database_url")?.filter(|u| !u.is_empty()).or(file.database_url.filter(|u| !u.is_empty()));
        let master_key_file = nonempty(overrides.master_key_file.clone().or_else(|| path_var("master_key_file"))).or(nonempty(file.master_key_file));
        let ledger_key_file = path_var("ledger_key_file").or(nonempty(file.ledger_key_file));
        let ledger_origin = var("ledger_origin")?.or(file.ledger_origin).unwrap_or_else(|| "cartable.localhost".to_owned());
        // A text setting: its variable, else the file; empty counts as unset.
        let text = |key: &str, from_file: Option<String>| -> Result<Option<String>, ConfigError> {
            Ok(var(key)?.or(from_file).filter(|v| !v.is_empty()))
        };
        let blob_store = blob_store(
            flag_or_var(&overrides.blob_url, "blob_url")?.filter(|u| !u.is_empty()).or(file.blob_url.filter(|u| !u.is_empty())),
            text("s3_endpoint", file.s3_endpoint)?,
            text("s3_region", file.s3_region)?,
            text("s3_access_key_id", file.s3_access_key_id)?,
            text("s3_secret_access_key", file.s3_secret_access_key)?,
        )?;
        let parse_age = |key: &str, from_file: Option<u8>, default: u8| -> Result<u8, ConfigError> {
            match var(key)? {
                Some(v) => v.parse().map_err(|_| ConfigError::Rule(format!("{} must be a whole number of years", variable(key)))),
                None => Ok(from_file.unwrap_or(default)),
            }
        };
        let rules = AgeRules {
            digital_consent_age: parse_age("digital_consent_age", file.digital_consent_age, 15)?,
            majority_age: parse_age("majority_age", file.majority_age, 18)?,
        };
        if rules.digital_consent_age == 0 || rules.digital_consent_age > rules.majority_age || rules.majority_age > 25 {
            return Err(ConfigError::Rule("the ages must satisfy 0 < digital_consent_age <= majority_age <= 25".to_owned()));
        }
        let listen = flag_or_var(&overrides.listen, "listen")?.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let configured_url = var("public_url")?.or(file.public_url).filter(|u| !u.is_empty()).map(|u| u.trim_end_matches('/').to_owned());
        let public_url = configured_url.clone().unwrap_or_else(|| format!("http://{listen}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError::Rule("public_url must start with http:// or https://".to_owned()));
        }
        let number = |key: &str, from_file: Option<u64>| -> Result<Option<u64>, ConfigError> {
            match var(key)? {
                Some(v) => v.parse().map(Some).map_err(|_| ConfigError::Rule(format!("{} must be a whole number", variable(key)))),
                None => Ok(from_file),
            }
        };
        let orphan_blob_grace = match number("orphan_blob_grace", file.orphan_blob_grace)? {
            Some(seconds) if seconds > 30 * 86_400 => return Err(ConfigError::Rule("orphan_blob_grace must be at most 2592000 seconds".to_owned())),
            Some(seconds) => std::time::Duration::from_secs(seconds),
            None => VaultConfig::embedded(PathBuf::new()).orphan_blob_grace,
        };
        let mut api = crate::api::ApiSettings::standard();
        api.secure_cookies = public_url.starts_with("https://");
        api.public_url = configured_url.clone();
        api.uploads_dir = Some(data.join("imports"));
        if let Some(seconds) = number("access_token_ttl", file.access_token_ttl)? {
            if !(1..=86_400).contains(&seconds) {
                return Err(ConfigError::Rule("access_token_ttl must be 1 to 86400 seconds".to_owned()));
            }
            api.token_ttl = std::time::Duration::from_secs(seconds);
        }
        if let Some(bytes) = number("max_file_bytes", file.max_file_bytes)? {
            if bytes == 0 {
                return Err(ConfigError::Rule("max_file_bytes must be positive".to_owned()));
            }
            api.max_file_bytes = bytes;
        }
        if let Some(n) = number("max_concurrent_sign_ins", file.max_concurrent_sign_ins)?.filter(|n| *n > 0) {
            api.max_concurrent_sign_ins = usize::try_from(n).map_err(|_| ConfigError::Rule("max_concurrent_sign_ins is too large".to_owned()))?;
        }
        if let Some(ms) = number("long_poll_recheck_ms", file.long_poll_recheck_ms)? {
            if !(10..=3_600_000).contains(&ms) {
                return Err(ConfigError::Rule("long_poll_recheck_ms must be 10 to 3600000".to_owned()));
            }
            api.long_poll_recheck = std::time::Duration::from_millis(ms);
        }
        let registration = var("registration")?.or(file.registration).unwrap_or_else(|| "open".to_owned());
        api.registration = match registration.as_str() {
            "open" => crate::api::Registration::Open,
            "operator-approved" => crate::api::Registration::OperatorApproved,
            _ => return Err(ConfigError::Rule("registration must be `open` or `operator-approved`".to_owned())),
        };
        let mut server = crate::server::ServerSettings::standard();
        if let Some(seconds) = number("header_read_timeout", file.header_read_timeout)? {
            if !(1..=300).contains(&seconds) {
                return Err(ConfigError::Rule("header_read_timeout must be 1 to 300 seconds".to_owned()));
            }
            server.header_read_timeout = std::time::Duration::from_secs(seconds);
        }
        if let Some(seconds) = number("body_idle_timeout", file.body_idle_timeout)? {
            if !(1..=3600).contains(&seconds) {
                return Err(ConfigError::Rule("body_idle_timeout must be 1 to 3600 seconds".to_owned()));
            }
            server.body_idle_timeout = std::time::Duration::from_secs(seconds);
        }
        if let Some(count) = number("max_connections", file.max_connections)? {
            if !(1..=1_000_000).contains(&count) {
                return Err(ConfigError::Rule("max_connections must be 1 to 1000000".to_owned()));
            }
            server.max_connections = count as usize;
        }
        let notify = notify_settings(
            configured_url.as_deref(),
            SmtpGiven {
                host: text("smtp_host", file.smtp_host)?,
                port: number("smtp_port", file.smtp_port)?,
                tls: text("smtp_tls", file.smtp_tls)?,
                username: text("smtp_username", file.smtp_username)?,
                password: text("smtp_password", file.smtp_password)?,
                ca_file: nonempty(path_var("smtp_ca_file").or(file.smtp_ca_file)),
                from: text("mail_from", file.mail_from)?,
                retry_seconds: number("notify_retry_seconds", file.notify_retry_seconds)?,
                notice_days: number("expiry_notice_days", file.expiry_notice_days)?,
            },
        )?;
        api.email_configured = notify.mail.is_some();
        if !file.oidc.is_empty() {
            let Some(url) = configured_url.as_deref() else {
                return Err(ConfigError::Rule("public_url must be set when oidc providers are (their callbacks start with it)".to_owned()));
            };
            crate::oidc::Providers::new(&file.oidc, url).map_err(ConfigError::Rule)?;
        }
        api.oidc = file.oidc;
        Ok(Config {
            vault: VaultConfig {
                data_dir: data,
                database_url,
                master_key_file,
                ledger_key_file,
                age_rules: rules,
                ledger_origin,
                blob_store,
                orphan_blob_grace,
                pdf_text: pdf_extractor(),
            },
            listen,
            public_url,
            api,
            server,
            notify,
        })
    }
}

/// The SMTP and notice settings as given (each from its variable or the file).
struct SmtpGiven {
    host: Option<String>,
    port: Option<u64>,
    tls: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ca_file: Option<PathBuf>,
    from: Option<String>,
    retry_seconds: Option<u64>,
    notice_days: Option<u64>,
}

/// The notifications' settings: e-mail only with an SMTP host, a sender and a configured `public_url`; SMTP
/// settings without a host are refused rather than ignored (but the sender, harmless ahead of its server).
fn notify_settings(public_url: Option<&str>, given: SmtpGiven) -> Result<crate::notify::NotifySettings, ConfigError> {
    use crate::notify::{MailSettings, SmtpSecurity};
    let rule = |text: &str| Err(ConfigError::Rule(text.to_owned()));
    let mut settings = crate::notify::NotifySettings::standard();
    if let Some(days) = given.notice_days {
        if !(1..=60).contains(&days) {
            return rule("expiry_notice_days must be 1 to 60");
        }
        settings.expiry_notice = time::Duration::days(days as i64);
    }
    let retry_initial = match given.retry_seconds {
        Some(seconds) if !(1..=3600).contains(&seconds) => return rule("notify_retry_seconds must be 1 to 3600"),
        Some(seconds) => std::time::Duration::from_secs(seconds),
        None => std::time::Duration::from_secs(30),
    };
    let security = match given.tls.as_deref() {
        None | Some("starttls") => SmtpSecurity::StartTls,
        Some("tls") => SmtpSecurity::Tls,
        Some(_) => return rule("smtp_tls must be `starttls` or `tls`"),
    };
    let Some(host) = given.host else {
        let others = [("smtp_port", given.port.is_some_and(|p| p != 0)), ("smtp_username", given.username.is_some()), ("smtp_password", given.password.is_some()), ("smtp_ca_file", given.ca_file.is_some())];
        if let Some((key, _)) = others.iter().find(|(_, set)| *set) {
            return Err(ConfigError::Rule(format!("{key} is set, but smtp_host is not (no e-mail is sent)")));
        }
        return Ok(settings);
    };
    let Some(public_url) = public_url else { return rule("public_url must be set when smtp_host is (the e-mails link to it)") };
    let Some(from) = given.from else { return rule("mail_from must be set when smtp_host is") };
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return rule("mail_from must be an address, e.g. \"Cartable <cartable@ecole.example>\"");
    }
    let port = match given.port {
        None | Some(0) => if security == SmtpSecurity::Tls { 465 } else { 587 },
        Some(port) => u16::try_from(port).map_err(|_| ConfigError::Rule("smtp_port must be 1 to 65535".to_owned()))?,
    };
    if given.username.is_some() != given.password.is_some() {
        return rule("smtp_username and smtp_password go together: set both or neither");
    }
    settings.mail = Some(MailSettings {
        host,
        port,
        security,
        username: given.username,
        password: given.password.map(Into::into),
        ca_file: given.ca_file,
        from,
        retry_initial,
        public_url: public_url.to_owned(),
    });
    Ok(settings)
}

/// The blob store a `blob_url` and the S3 settings name: the data folder when the url is empty, an S3-compatible
/// store for `s3://bucket[/prefix]`. S3 settings without an S3 url are refused rather than ignored.
fn blob_store(
    url: Option<String>,
    endpoint: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
) -> Result<BlobStoreConfig, ConfigError> {
    let rule = |text: &str| Err(ConfigError::Rule(text.to_owned()));
    let Some(url) = url else {
        let given = [("s3_endpoint", &endpoint), ("s3_region", &region), ("s3_access_key_id", &access_key_id), ("s3_secret_access_key", &secret_access_key)];
        if let Some((key, _)) = given.iter().find(|(_, v)| v.is_some()) {
            return Err(ConfigError::Rule(format!("{key} is set, but blob_url is not an s3:// url (the blobs are in the data folder)")));
        }
        return Ok(BlobStoreConfig::DataFolder);
    };
    let Some(rest) = url.strip_prefix("s3://") else {
        return rule("blob_url must be empty (the data folder) or s3://bucket, or s3://bucket/prefix");
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_end_matches('/');
    let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !plain(bucket) {
        return rule("the bucket of blob_url must be letters, digits, `-`, `_` or `.`");
    }
    if !prefix.is_empty() && !prefix.split('/').all(|part| plain(part) && part != "." && part != "..") {
        return rule("the prefix of blob_url must be folders of letters, digits, `-`, `_` or `.`, separated by `/`");
    }
    if let Some(e) = &endpoint
        && !(e.starts_with("http://") || e.starts_with("https://"))
    {
        return rule("s3_endpoint must be an http:// or https:// url");
    }
    let credentials = match (access_key_id, secret_access_key) {
        (Some(access_key_id), Some(secret)) => Some(S3Credentials { access_key_id, secret_access_key: secret.into() }),
        (None, None) => None,
        _ => return rule("s3_access_key_id and s3_secret_access_key go together: set both or neither"),
    };
    Ok(BlobStoreConfig::S3(S3Config {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        endpoint,
        region: region.unwrap_or_else(|| "us-east-1".to_owned()),
        credentials,
    }))
}

/// PDFs' text is read by this very program, run again with a hidden command in a process of its own
/// (`crate::pdf_text`); without a path to it, PDFs are found by their names only.
fn pdf_extractor() -> Option<cartable_vault::TextExtractor> {
    let program = std::env::current_exe().ok()?;
    Some(cartable_vault::TextExtractor { program, args: vec!["extract-pdf-text".to_owned()] })
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
        assert_eq!(parsed.long_poll_recheck_ms, Some(standard.long_poll_recheck.as_millis() as u64));
        assert_eq!(parsed.orphan_blob_grace, Some(cartable_vault::VaultConfig::embedded(PathBuf::new()).orphan_blob_grace.as_secs()));
        assert_eq!(standard.registration, crate::api::Registration::Open);
        let server = crate::server::ServerSettings::standard();
        assert_eq!(parsed.header_read_timeout, Some(server.header_read_timeout.as_secs()));
        assert_eq!(parsed.body_idle_timeout, Some(server.body_idle_timeout.as_secs()));
        assert_eq!(parsed.max_connections, Some(server.max_connections as u64));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("colour = \"blue\"").is_err());
    }

    /// An environment of the given variables only.
    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn flags_win_over_variables_which_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cartable.toml");
        std::fs::write(&path, "data = \"/from/file\"\nlisten = \"127.0.0.1:1001\"\n").unwrap();
        let file_only = Overrides { config_file: Some(path.clone()), ..Overrides::default() };
        let flags = Overrides { data: Some(PathBuf::from("/from/flag")), listen: Some("127.0.0.1:1003".to_owned()), ..file_only.clone() };
        let env = vars(&[("CARTABLE_DATA", "/from/env"), ("CARTABLE_LISTEN", "127.0.0.1:1002")]);

        let config = Config::resolve_from(&file_only, vars(&[])).unwrap();
        assert_eq!((config.vault.data_dir, config.listen.as_str()), (PathBuf::from("/from/file"), "127.0.0.1:1001"));
        let config = Config::resolve_from(&file_only, &env).unwrap();
        assert_eq!((config.vault.data_dir, config.listen.as_str()), (PathBuf::from("/from/env"), "127.0.0.1:1002"));
        let config = Config::resolve_from(&flags, &env).unwrap();
        assert_eq!((config.vault.data_dir, config.listen.as_str()), (PathBuf::from("/from/flag"), "127.0.0.1:1003"));
        // Nothing said: the defaults of the printed configuration.
        let config = Config::resolve_from(&Overrides::default(), vars(&[])).unwrap();
        assert_eq!((config.vault.data_dir, config.listen.as_str()), (PathBuf::from("./cartable-data"), "127.0.0.1:8080"));
    }

    #[test]
    fn the_configuration_file_may_be_named_by_its_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cartable.toml");
        std::fs::write(&path, "data = \"/from/file\"\n").unwrap();
        let config = Config::resolve_from(&Overrides::default(), vars(&[("CARTABLE_CONFIG", path.to_str().unwrap())])).unwrap();
        assert_eq!(config.vault.data_dir, PathBuf::from("/from/file"));
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let env = vars(&[("CARTABLE_DATA", ""), ("CARTABLE_LISTEN", ""), ("CARTABLE_DATABASE_URL", ""), ("CARTABLE_MAJORITY_AGE", "")]);
        let config = Config::resolve_from(&Overrides::default(), env).unwrap();
        assert_eq!((config.vault.data_dir, config.listen.as_str()), (PathBuf::from("./cartable-data"), "127.0.0.1:8080"));
        assert_eq!((config.vault.database_url, config.vault.age_rules.majority_age), (None, 18));
    }

    #[test]
    fn a_bad_variable_is_named_in_the_error() {
        let err = Config::resolve_from(&Overrides::default(), vars(&[("CARTABLE_MAJORITY_AGE", "dix-huit")])).unwrap_err();
        assert_eq!(err.to_string(), "CARTABLE_MAJORITY_AGE must be a whole number of years");
        let err = Config::resolve_from(&Overrides::default(), vars(&[("CARTABLE_MAX_CONNECTIONS", "many")])).unwrap_err();
        assert_eq!(err.to_string(), "CARTABLE_MAX_CONNECTIONS must be a whole number");
    }

    #[test]
    fn every_key_of_the_printed_config_has_a_variable_that_resolve_reads() {
        let printed: toml::Table = toml::from_str(DEFAULT_CONFIG).unwrap();
        let mut keys: Vec<&str> = printed.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut in_table: Vec<&str> = VARIABLES.iter().map(|(key, _)| *key).collect();
        in_table.sort_unstable();
        assert_eq!(keys, in_table, "the table of variables and DEFAULT_CONFIG name different keys");
        // The variables the printed configuration names are the ones read.
        for word in DEFAULT_CONFIG.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')).filter(|w| w.starts_with("CARTABLE_")) {
            assert!(VARIABLES.iter().any(|(_, name)| *name == word), "DEFAULT_CONFIG names `{word}`, which resolve does not read");
        }
        // A value for each key, unlike its default.
        let sample = |key: &str| match key {
            "data" => "/elsewhere",
            "database_url" => "sqlite:///elsewhere/cartable.db",
            "master_key_file" => "/elsewhere/master.key",
            "ledger_key_file" => "/elsewhere/ledger.key",
            "ledger_origin" => "cartable.example.org",
            "blob_url" => "s3://cartable",
            "s3_endpoint" => "http://127.0.0.1:9000",
            "s3_region" => "garage",
            "s3_access_key_id" => "GK0123",
            "s3_secret_access_key" => "secret-of-the-sample",
            "listen" => "127.0.0.1:9999",
            "public_url" => "https://cartable.example.org",
            "access_token_ttl" => "60",
            "max_file_bytes" => "1000",
            "max_concurrent_sign_ins" => "3",
            "registration" => "operator-approved",
            "header_read_timeout" => "5",
            "body_idle_timeout" => "9",
            "long_poll_recheck_ms" => "250",
            "orphan_blob_grace" => "60",
            "max_connections" => "7",
            "digital_consent_age" => "14",
            "majority_age" => "19",
            "smtp_host" => "mail.example.org",
            "smtp_port" => "2525",
            "smtp_tls" => "tls",
            "smtp_username" => "cartable",
            "smtp_password" => "password-of-the-sample",
            "smtp_ca_file" => "/elsewhere/ca.pem",
            "mail_from" => "Sample <sample@example.org>",
            "notify_retry_seconds" => "5",
            "expiry_notice_days" => "3",
            other => panic!("no sample value for `{other}`: add one"),
        };
        // The S3 settings apply to an S3 blob store only, so they are tried beside one (and both credentials together).
        let alongside = |key: &str| -> Vec<(&'static str, &'static str)> {
            match key {
                "s3_access_key_id" | "s3_secret_access_key" => vec![
                    ("CARTABLE_BLOB_URL", "s3://cartable"),
                    ("CARTABLE_S3_ACCESS_KEY_ID", "GK-other"),
                    ("CARTABLE_S3_SECRET_ACCESS_KEY", "another-secret"),
                ],
                key if key.starts_with("s3_") => vec![("CARTABLE_BLOB_URL", "s3://cartable")],
                // The SMTP settings apply beside a host, a sender and a public address (and both credentials).
                "smtp_username" | "smtp_password" => vec![
                    ("CARTABLE_SMTP_HOST", "mail.example.org"),
                    ("CARTABLE_MAIL_FROM", "cartable@example.org"),
                    ("CARTABLE_PUBLIC_URL", "https://cartable.example.org"),
                    ("CARTABLE_SMTP_USERNAME", "other"),
                    ("CARTABLE_SMTP_PASSWORD", "another-password"),
                ],
                "smtp_port" | "smtp_tls" | "smtp_ca_file" | "mail_from" | "notify_retry_seconds" => vec![
                    ("CARTABLE_SMTP_HOST", "mail.example.org"),
                    ("CARTABLE_MAIL_FROM", "cartable@example.org"),
                    ("CARTABLE_PUBLIC_URL", "https://cartable.example.org"),
                ],
                "smtp_host" => vec![("CARTABLE_MAIL_FROM", "cartable@example.org"), ("CARTABLE_PUBLIC_URL", "https://cartable.example.org")],
                _ => Vec::new(),
            }
        };
        for (key, name) in VARIABLES {
            // As README.md says: `CARTABLE_` and the key in capitals.
            assert_eq!(name, format!("CARTABLE_{}", key.to_uppercase()));
            let standard = format!("{:?}", Config::resolve_from(&Overrides::default(), vars(&alongside(key))).unwrap());
            let asked = std::cell::RefCell::new(Vec::new());
            let mut pairs = alongside(key);
            pairs.retain(|(n, _)| *n != name);
            pairs.push((name, sample(key)));
            let set = vars(&pairs);
            let config = Config::resolve_from(&Overrides::default(), |n: &str| {
                asked.borrow_mut().push(n.to_owned());
                set(n)
            })
            .unwrap_or_else(|e| panic!("{name}={}: {e}", sample(key)));
            assert!(asked.borrow().iter().any(|n| n == name), "resolve does not read {name}");
            if key == "s3_secret_access_key" {
                // Hidden from Debug: read where it went.
                use secrecy::ExposeSecret as _;
                let BlobStoreConfig::S3(S3Config { credentials: Some(credentials), .. }) = &config.vault.blob_store else { panic!("{name}: no s3 credentials") };
                assert_eq!(credentials.secret_access_key.expose_secret(), sample(key), "{name} changes nothing");
            } else if key == "smtp_password" {
                use secrecy::ExposeSecret as _;
                let password = config.notify.mail.as_ref().and_then(|m| m.password.as_ref()).unwrap_or_else(|| panic!("{name}: no smtp password"));
                assert_eq!(password.expose_secret(), sample(key), "{name} changes nothing");
                assert!(!format!("{config:?}").contains(sample(key)), "{name} shows in the configuration's Debug");
            } else {
                assert_ne!(format!("{config:?}"), standard, "{name} changes nothing");
            }
        }
    }

    #[test]
    fn the_blob_store_is_the_data_folder_unless_an_s3_url_says_otherwise() {
        let resolve = |pairs: &[(&str, &str)]| Config::resolve_from(&Overrides::default(), vars(pairs)).map(|c| c.vault.blob_store);
        assert_eq!(resolve(&[]).unwrap(), BlobStoreConfig::DataFolder);
        let s3 = resolve(&[
            ("CARTABLE_BLOB_URL", "s3://cartable-blobs/prod/eu"),
            ("CARTABLE_S3_ENDPOINT", "http://127.0.0.1:3900"),
            ("CARTABLE_S3_ACCESS_KEY_ID", "GK1"),
            ("CARTABLE_S3_SECRET_ACCESS_KEY", "the-secret"),
        ])
        .unwrap();
        let BlobStoreConfig::S3(s3) = s3 else { panic!("an s3 store") };
        assert_eq!((s3.bucket.as_str(), s3.prefix.as_str(), s3.region.as_str()), ("cartable-blobs", "prod/eu", "us-east-1"));
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        // The flag wins over the variable.
        let flag = Overrides { blob_url: Some("s3://from-flag".to_owned()), ..Overrides::default() };
        let config = Config::resolve_from(&flag, vars(&[("CARTABLE_BLOB_URL", "s3://from-env")])).unwrap();
        assert!(matches!(config.vault.blob_store, BlobStoreConfig::S3(S3Config { ref bucket, .. }) if bucket == "from-flag"));
        // The secret never shows, in the configuration's Debug either.
        let config = Config::resolve_from(&Overrides::default(), vars(&[("CARTABLE_BLOB_URL", "s3://b"), ("CARTABLE_S3_ACCESS_KEY_ID", "GK1"), ("CARTABLE_S3_SECRET_ACCESS_KEY", "the-secret")])).unwrap();
        let shown = format!("{config:?}");
        assert!(shown.contains("GK1") && !shown.contains("the-secret"), "{shown}");
        for (pairs, message) in [
            (&[("CARTABLE_BLOB_URL", "file:///var/blobs")][..], "blob_url must be empty (the data folder) or s3://bucket, or s3://bucket/prefix"),
            (&[("CARTABLE_BLOB_URL", "s3://")][..], "the bucket of blob_url must be letters, digits, `-`, `_` or `.`"),
            (&[("CARTABLE_BLOB_URL", "s3://b/../x")][..], "the prefix of blob_url must be folders of letters, digits, `-`, `_` or `.`, separated by `/`"),
            (&[("CARTABLE_BLOB_URL", "s3://b"), ("CARTABLE_S3_ENDPOINT", "127.0.0.1:9000")][..], "s3_endpoint must be an http:// or https:// url"),
            (&[("CARTABLE_BLOB_URL", "s3://b"), ("CARTABLE_S3_ACCESS_KEY_ID", "GK1")][..], "s3_access_key_id and s3_secret_access_key go together: set both or neither"),
            (&[("CARTABLE_S3_ENDPOINT", "http://127.0.0.1:9000")][..], "s3_endpoint is set, but blob_url is not an s3:// url (the blobs are in the data folder)"),
        ] {
            assert_eq!(resolve(pairs).unwrap_err().to_string(), message, "{pairs:?}");
        }
    }
}

