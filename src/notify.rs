//! Notifications leave the server: the mailer sends the e-mails the vault's outbox holds, and the sweeper finds
//! grants about to end (and ends those past their end), both as tasks of `cartable serve`.
//!
//! Sending never stands in the way of what caused it: the change commits its notification with itself, and the
//! mailer sends later (woken at once in this process, else within a second or so), retrying with backoff. A
//! message says what happened, with the service's name and a link to the page; never a child's name or data.
//! Failures are logged for the operator (the notification's id, the attempt and the kind of error, never an
//! address) and counted by `cartable notifications`.

use std::path::PathBuf;
use std::time::Duration;

use cartable_vault::{OutgoingEmail, Vault};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use time::OffsetDateTime;

use crate::web::account::{notification_page, notification_text};
use crate::web::i18n::Lang;

/// How the server reaches its SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (port 587 by default).
    StartTls,
    /// TLS from the first byte (port 465 by default).
    Tls,
}

/// The operator's SMTP settings.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    /// Hidden from `Debug`.
    pub password: Option<age::secrecy::SecretString>,
    /// A CA to trust besides the system's (a school's own, or a test's).
    pub ca_file: Option<PathBuf>,
    /// The sender, e.g. `Cartable <cartable@school.example>`.
    pub from: String,
    /// The first retry's delay; each next one doubles, up to an hour.
    pub retry_initial: Duration,
    /// Where the links of the messages start (the configured `public_url`).
    pub public_url: String,
}

/// What `cartable serve` does about notifications.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// `None`: no SMTP configured, notifications stay in the web UI.
    pub mail: Option<MailSettings>,
    /// How long before a grant's end its members are told.
    pub expiry_notice: time::Duration,
    /// How often the sweeper looks for grants ending.
    pub sweep_every: Duration,
}

impl NotifySettings {
    pub fn standard() -> Self {
        NotifySettings { mail: None, expiry_notice: time::Duration::days(7), sweep_every: Duration::from_secs(600) }
    }
}

/// An e-mail is given up after this many attempts (about a day and a half of retries at the longest delay).
const MAX_ATTEMPTS: u32 = 40;
const LONGEST_DELAY: Duration = Duration::from_secs(3600);

fn transport(mail: &MailSettings) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let mut tls = TlsParameters::builder(mail.host.clone());
    if let Some(path) = &mail.ca_file {
        let pem = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read smtp_ca_file `{}`: {e}", path.display()))?;
        tls = tls.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| anyhow::anyhow!("smtp_ca_file `{}` is not a PEM certificate: {e}", path.display()))?);
    }
    let tls = tls.build().map_err(|e| anyhow::anyhow!("the TLS settings for SMTP are invalid: {e}"))?;
    let tls = match mail.security {
        SmtpSecurity::StartTls => Tls::Required(tls),
        SmtpSecurity::Tls => Tls::Wrapper(tls),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(mail.host.clone()).port(mail.port).tls(tls).timeout(Some(Duration::from_secs(30)));
    if let (Some(user), Some(password)) = (&mail.username, &mail.password) {
        use age::secrecy::ExposeSecret as _;
        builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
    }
    Ok(builder.build())
}

/// The message of a notification, in the member's language: what happened, the link to the page, and the link to
/// their choices.
async fn compose(vault: &Vault, mail: &MailSettings, email: &OutgoingEmail, to: &str) -> anyhow::Result<Message> {
    let lang = Lang::from_code(&email.language).unwrap_or(Lang::Fr);
    let service = vault.service_names(&[email.service]).await?.remove(&email.service).unwrap_or_else(|| "?".to_owned());
    let page = format!("{}/family/{}/{}", mail.public_url, email.family, notification_page(email.kind));
    let choices = format!("{}/family/{}/account", mail.public_url, email.family);
    let link = |key: &str, url: &str| lang.t_with(key, &[("link", crate::web::i18n::Arg::Text(url.to_owned()))]);
    let body = format!("{}\n\n{}\n\n-- \n{}\n", notification_text(lang, email.kind, &service), link("email-open", &page), link("email-footer", &choices));
    let subject = lang.t(&format!("email-subject-{}", email.kind.as_str()));
    Ok(Message::builder()
        .from(mail.from.parse()?)
        .to(to.parse()?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)?)
}

/// The kind of an SMTP failure, for the log and the outbox (never the server's text, which may echo an address).
fn failure_kind(e: &lettre::transport::smtp::Error) -> String {
    match e.status() {
        Some(code) if e.is_permanent() => format!("refused permanently ({code})"),
        Some(code) => format!("refused for now ({code})"),
        None if e.is_timeout() => "timeout".to_owned(),
        None if e.is_tls() => "tls".to_owned(),
        None => "connection".to_owned(),
    }
}

fn delay(attempts: u32, initial: Duration) -> Duration {
    initial.saturating_mul(1 << attempts.saturating_sub(1).min(20)).min(LONGEST_DELAY)
}

/// Sends what is due, for ever: claims a batch, sends each, and waits for the next notification or a second.
pub async fn run_mailer(vault: Vault, mail: MailSettings) {
    let transport = match transport(&mail) {
        Ok(transport) => transport,
        Err(e) => {
            tracing::error!(error = %e, "notifications will not be sent by e-mail");
            return;
        }
    };
    let poll = mail.retry_initial.min(Duration::from_secs(2));
    loop {
        match vault.claim_due_emails(OffsetDateTime::now_utc(), 20).await {
            Ok(due) => {
                for email in due {
                    send_one(&vault, &mail, &transport, email).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "the notifications' outbox could not be read"),
        }
        vault.wait_for_notifications(poll).await;
    }
}

async fn send_one(vault: &Vault, mail: &MailSettings, transport: &AsyncSmtpTransport<Tokio1Executor>, email: OutgoingEmail) {
    let Some(to) = email.to.clone() else {
        if let Err(e) = vault.email_done(&email.id, false).await {
            tracing::warn!(notification = %email.id, error = %e, "an e-mail's row could not be updated");
        }
        return;
    };
    let message = match compose(vault, mail, &email, &to).await {
        Ok(message) => message,
        Err(_) => {
            // An address the vault accepted but lettre does not, or a sender that is not one: no retry helps.
            // (The error is not logged: it may quote the address.)
            tracing::error!(notification = %email.id, "an e-mail could not be made; given up");
            let _ = vault.email_failed(&email.id, email.attempts + 1, None, "the message could not be made").await;
            return;
        }
    };
    let result = transport.send(message).await;
    let outcome = match result {
        Ok(_) => {
            tracing::info!(notification = %email.id, kind = email.kind.as_str(), "e-mail sent");
            vault.email_done(&email.id, true).await
        }
        Err(e) => {
            let attempts = email.attempts + 1;
            let kind = failure_kind(&e);
            let retry = (!e.is_permanent() && attempts < MAX_ATTEMPTS).then(|| OffsetDateTime::now_utc() + delay(attempts, mail.retry_initial));
            match retry {
                Some(at) => tracing::warn!(notification = %email.id, attempt = attempts, error = %kind, retry_at = %at, "an e-mail could not be sent; it will be retried"),
                None => tracing::error!(notification = %email.id, attempt = attempts, error = %kind, "an e-mail could not be sent; given up"),
            }
            vault.email_failed(&email.id, attempts, retry, &kind).await
        }
    };
    if let Err(e) = outcome {
        tracing::warn!(notification = %email.id, error = %e, "an e-mail's row could not be updated");
    }
}

/// Looks for grants about to end (their members are told once) and ends those past their end (the sweep), every
/// `sweep_every`, for ever.
pub async fn run_sweeper(vault: Vault, settings: NotifySettings) {
    loop {
        let now = OffsetDateTime::now_utc();
        match vault.families_with_grants_ending(now + settings.expiry_notice).await {
            Ok(families) => {
                for family in families {
                    if let Err(e) = vault.notify_grants_ending(family, now, settings.expiry_notice).await {
                        tracing::warn!(family = %family, error = %e, "grants ending soon could not be notified");
                    }
                    if let Err(e) = vault.sweep(family, now).await {
                        tracing::warn!(family = %family, error = %e, "the family's grants could not be swept");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "grants ending soon could not be listed"),
        }
        tokio::time::sleep(settings.sweep_every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_an_hour() {
        let initial = Duration::from_secs(30);
        assert_eq!(delay(1, initial), Duration::from_secs(30));
        assert_eq!(delay(2, initial), Duration::from_secs(60));
        assert_eq!(delay(5, initial), Duration::from_secs(480));
        assert_eq!(delay(30, initial), LONGEST_DELAY);
    }
}
