//! The `cartable` command line: operators' and scripts' way into the local vault.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use cartable_consent::{
    AccessRequest, Action, Doctype, ForbidScope, DpoId, FamilyId, GrantId, LegalBasis, MemberId, Principal, RecordId, Resource, Role,
    ServiceId,
};
use cartable_vault::{LedgerFilter, NewRecord, NewRequest, RecordFilter, Vault};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use time::OffsetDateTime;

use crate::config::{Config, DEFAULT_CONFIG, Overrides};

#[derive(Debug, Parser)]
#[command(name = "cartable", version, about = "Cartable: a family's school data, encrypted, shared only by consent, with a verifiable consent ledger")]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// The data folder (database, blobs, keys).
    #[arg(long, global = true, env = "CARTABLE_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…`; default: SQLite inside the data folder.
    #[arg(long, global = true, env = "CARTABLE_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// The master key file; default: <data>/keys/master.key.
    #[arg(long, global = true, env = "CARTABLE_MASTER_KEY_FILE", value_name = "FILE")]
    master_key: Option<PathBuf>,
    /// A TOML configuration file (see `cartable default-config`).
    #[arg(long, global = true, env = "CARTABLE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print one JSON object, for scripts.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Families: create, list, delete.
    #[command(subcommand)]
    Family(FamilyCmd),
    /// Members of a family: guardians and children.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Records: JSON documents in a child's collection.
    #[command(subcommand)]
    Record(RecordCmd),
    /// Files: documents of any size, streamed.
    #[command(subcommand)]
    File(FileCmd),
    /// Services that ask families for access.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Access requests: create, approve, deny.
    #[command(subcommand)]
    Request(RequestCmd),
    /// Grants: list, revoke, confirm.
    #[command(subcommand)]
    Grant(GrantCmd),
    /// Family-wide policies.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Explain a decision.
    #[command(subcommand)]
    Access(AccessCmd),
    /// The consent ledger.
    #[command(subcommand)]
    Ledger(LedgerCmd),
    /// The master key.
    #[command(subcommand)]
    Key(KeyCmd),
    /// What the server refused to callers from outside a family (kept apart from the families' ledgers).
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Print the commented default configuration.
    DefaultConfig,
    /// Run the HTTP server.
    Serve {
        /// The address to listen on.
        #[arg(long, env = "CARTABLE_LISTEN")]
        listen: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum FamilyCmd {
    Create {
        #[arg(long)]
        name: String,
    },
    List,
    /// Erase a family: its key first, then its data; its ledger stays, ending with the erasure.
    Delete {
        #[arg(long)]
        family: FamilyId,
        /// Confirm the erasure; it cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MemberCmd {
    Add {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        role: Role,
        #[arg(long)]
        name: String,
        /// YYYY-MM-DD; required for a child.
        #[arg(long)]
        birth_date: Option<String>,
    },
    List {
        #[arg(long)]
        family: FamilyId,
    },
    /// Set a member's password, read from standard input.
    SetPassword {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        member: MemberId,
    },
}

#[derive(Debug, Subcommand)]
enum RecordCmd {
    Put {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        child: MemberId,
        #[arg(long)]
        doctype: Doctype,
        /// A JSON file, or `-` for standard input.
        #[arg(long)]
        body: String,
    },
    Get {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        id: RecordId,
    },
    List {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        child: Option<MemberId>,
        #[arg(long)]
        doctype: Option<Doctype>,
        /// Continue after this record id.
        #[arg(long)]
        after: Option<RecordId>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
enum FileCmd {
    Put {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        child: MemberId,
        #[arg(long)]
        doctype: Doctype,
        path: PathBuf,
    },
    Get {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        id: RecordId,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ServiceCmd {
    Register {
        #[arg(long)]
        name: String,
    },
    /// Lets a service registered under `registration = "operator-approved"` ask families for access.
    Approve {
        #[arg(long)]
        service: ServiceId,
    },
    /// The services waiting for approval.
    Pending,
}

#[derive(Debug, Subcommand)]
enum RequestCmd {
    Create {
        #[arg(long)]
        service: ServiceId,
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        child: MemberId,
        /// Comma-separated doctypes.
        #[arg(long, value_delimiter = ',', required = true)]
        doctype: Vec<Doctype>,
        /// Comma-separated actions: read, list, search, write, export.
        #[arg(long, value_delimiter = ',', required = true)]
        actions: Vec<Action>,
        #[arg(long)]
        purpose: String,
        #[arg(long, default_value = "consent")]
        legal_basis: LegalBasis,
        #[arg(long)]
        days: u32,
    },
    Approve {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        request: GrantId,
        #[arg(long)]
        by: MemberId,
    },
    Deny {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        request: GrantId,
        #[arg(long)]
        by: MemberId,
    },
}

#[derive(Debug, Subcommand)]
enum GrantCmd {
    List {
        #[arg(long)]
        family: FamilyId,
    },
    Revoke {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        grant: GrantId,
        /// The member who revokes; default: the operator.
        #[arg(long)]
        by: Option<MemberId>,
    },
    /// The adult child confirms a grant a guardian approved alone.
    Confirm {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        grant: GrantId,
        #[arg(long)]
        by: MemberId,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCmd {
    /// Never share this doctype with any service, whatever a grant says: the family's prohibition (over the
    /// minors), or with --child an adult child's own.
    Forbid {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        doctype: Doctype,
        /// An adult child: their own prohibition over their own data.
        #[arg(long)]
        child: Option<MemberId>,
        /// Record it on behalf of this member (their rights apply; the ledger names the operator, for them).
        #[arg(long)]
        by: Option<MemberId>,
    },
    /// Lifts a prohibition (the same scope and rights as `forbid`).
    Lift {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        doctype: Doctype,
        #[arg(long)]
        child: Option<MemberId>,
        #[arg(long)]
        by: Option<MemberId>,
    },
    /// The Cedar policies in force for the family.
    Show {
        #[arg(long)]
        family: FamilyId,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Refusals of another family's members and services, counted per day, caller, family and reason.
    Refusals {
        /// How many days back, today included.
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
}

#[derive(Debug, Subcommand)]
enum AccessCmd {
    /// Would this principal be allowed this action on this record? Reads no data.
    Check {
        #[arg(long)]
        family: FamilyId,
        /// `service:ID`, `member:ID`, `dpo:ID` or `operator`.
        #[arg(long)]
        principal: String,
        #[arg(long)]
        action: Action,
        #[arg(long, required_unless_present = "doctype")]
        record: Option<RecordId>,
        /// With --child, a collection instead of a record.
        #[arg(long, requires = "child")]
        doctype: Option<Doctype>,
        #[arg(long)]
        child: Option<MemberId>,
        /// RFC 3339 time to decide at; default: now.
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum LedgerCmd {
    /// Replay the log, check every hash, the checkpoints and the grants.
    Verify {
        #[arg(long)]
        family: FamilyId,
    },
    /// Print a signed checkpoint of the family's log.
    Checkpoint {
        #[arg(long)]
        family: FamilyId,
    },
    /// Print the tlog-proof of one entry.
    Proof {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        entry: u64,
    },
    /// Check a proof offline, without the database.
    CheckProof {
        file: PathBuf,
        /// The verifier key (`cartable ledger key`).
        #[arg(long)]
        key: String,
    },
    /// List entries for review.
    List {
        #[arg(long)]
        family: FamilyId,
        /// RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        event: Option<String>,
        #[arg(long)]
        service: Option<ServiceId>,
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Print the verifier key of this server's checkpoints.
    Key,
}

#[derive(Debug, Subcommand)]
enum KeyCmd {
    /// Re-wrap every family key under a new master key and destroy the old one.
    Rotate,
}

/// Runs the command line; errors are one line on stderr and a non-zero exit.
pub fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("error: internal error{place}; please report it");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: invalid arguments"));
            return ExitCode::from(2);
        }
    };
    let serve = matches!(cli.command, Command::Serve { .. });
    crate::logging::init(if serve { "info" } else { "warn" });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(_) => {
            eprintln!("error: cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ").replace('\n', " ")
}

struct Out {
    json: bool,
}

impl Out {
    /// Prints `value` as JSON with --json, else `human`.
    fn emit(&self, value: serde_json::Value, human: impl FnOnce() -> String) {
        if self.json {
            println!("{value}");
        } else {
            println!("{}", human());
        }
    }
}

async fn open(global: &Global) -> anyhow::Result<(Vault, Config)> {
    let config = resolve(global, None)?;
    let vault = Vault::open(config.vault.clone()).await?;
    Ok((vault, config))
}

fn resolve(global: &Global, listen: Option<String>) -> anyhow::Result<Config> {
    Ok(Config::resolve(&Overrides {
        config_file: global.config.clone(),
        data: global.data.clone(),
        database_url: global.database_url.clone(),
        master_key_file: global.master_key.clone(),
        listen,
    })?)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Out { json: cli.global.json };
    let g = &cli.global;
    match cli.command {
        Command::DefaultConfig => {
            print!("{DEFAULT_CONFIG}");
        }
        Command::Serve { listen } => {
            let config = resolve(g, listen)?;
            crate::server::serve(config).await?;
        }
        Command::Family(cmd) => {
            let (vault, _) = open(g).await?;
            match cmd {
                FamilyCmd::Create { name } => {
                    let id = vault.create_family(&name).await?;
                    out.emit(json!({"family_id": id}), || id.to_string());
                }
                FamilyCmd::List => {
                    let ids = vault.list_families().await?;
                    out.emit(json!({"families": ids}), || ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("\n"));
                }
                FamilyCmd::Delete { family, yes } => {
                    if !yes {
                        bail!("erasing family `{family}` cannot be undone: add --yes to confirm");
                    }
                    vault.delete_family(&vault.as_operator(family, Action::Manage, Resource::Family).await?).await?;
                    out.emit(json!({"deleted": family}), || format!("family {family} erased"));
                }
            }
        }
        Command::Member(cmd) => {
            let (vault, _) = open(g).await?;
            match cmd {
                MemberCmd::Add { family, role, name, birth_date } => {
                    let birth_date = birth_date.map(|d| parse_date(&d)).transpose()?;
                    let permit = vault.as_operator(family, Action::Manage, Resource::Family).await?;
                    let id = vault.add_member(&permit, role, &name, birth_date).await?;
                    out.emit(json!({"member_id": id}), || id.to_string());
                }
                MemberCmd::List { family } => {
                    let permit = operator_permit(&vault, family, Action::Read, Resource::Family).await?;
                    let members = vault.list_members(&permit).await?;
                    out.emit(json!({"members": members}), || {
                        members
                            .iter()
                            .map(|m| format!("{}  {:8}  {}{}", m.id, m.role.as_str(), m.name, m.birth_date.map(|d| format!("  ({d})")).unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                }
                MemberCmd::SetPassword { family, member } => {
                    let mut password = String::new();
                    std::io::stdin().read_line(&mut password).context("cannot read the password from standard input")?;
                    let password = password.trim_end_matches(['\r', '\n']);
                    let hash = crate::auth::hash_password(password)?;
                    vault.set_password_hash(family, member, &hash).await?;
                    out.emit(json!({"member_id": member, "password": "set"}), || "password set".to_owned());
                }
            }
        }
        Command::Record(cmd) => {
            let (vault, _) = open(g).await?;
            match cmd {
                RecordCmd::Put { family, child, doctype, body } => {
                    let text = read_body(&body)?;
                    let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| anyhow!("the body is not valid JSON ({e})"))?;
                    let permit = operator_permit(&vault, family, Action::Write, Resource::Collection { child, doctype }).await?;
                    let id = vault.put_record(&permit, NewRecord { child, doctype, source: "operator".to_owned(), body }).await?;
                    out.emit(json!({"record_id": id}), || id.to_string());
                }
                RecordCmd::Get { family, id } => {
                    let resource = vault.record_resource(family, id).await?;
                    let permit = operator_permit(&vault, family, Action::Read, resource).await?;
                    let doc = vault.get_record(&permit).await?;
                    let value = serde_json::to_value(&doc)?;
                    out.emit(value.clone(), || serde_json::to_string_pretty(&value).unwrap_or_default());
                }
                RecordCmd::List { family, child, doctype, after, limit } => {
                    let resource = match (child, doctype) {
                        (Some(child), Some(doctype)) => Resource::Collection { child, doctype },
                        _ => Resource::Family,
                    };
                    let permit = operator_permit(&vault, family, Action::List, resource).await?;
                    let records = vault.list_records(&permit, &RecordFilter { child, doctype, after, limit: Some(limit) }).await?;
                    out.emit(json!({"records": records}), || {
                        records
                            .iter()
                            .map(|r| format!("{}  {}  {}  {}  {} bytes", r.id, r.doctype, r.child, r.kind, r.size))
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                }
            }
        }
        Command::File(cmd) => {
            let (vault, _) = open(g).await?;
            match cmd {
                FileCmd::Put { family, child, doctype, path } => {
                    let file = std::fs::File::open(&path).with_context(|| format!("cannot open `{}`", path.display()))?;
                    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| anyhow!("`{}` has no usable file name", path.display()))?.to_owned();
                    let permit = operator_permit(&vault, family, Action::Write, Resource::Collection { child, doctype }).await?;
                    let id = vault.put_file(&permit, child, doctype, "operator".to_owned(), name, Box::new(file)).await?;
                    out.emit(json!({"record_id": id}), || id.to_string());
                }
                FileCmd::Get { family, id, out: path } => {
                    let resource = vault.record_resource(family, id).await?;
                    let permit = operator_permit(&vault, family, Action::Read, resource).await?;
                    let (info, mut reader) = vault.open_file(&permit).await?;
                    let dest = path.clone();
                    let written = tokio::task::spawn_blocking(move || write_private_file(&dest, &mut reader)).await??;
                    out.emit(json!({"record_id": id, "name": info.name, "size": written, "sha256": info.sha256, "out": path}), || {
                        format!("{} ({} bytes) written to {}", info.name, written, path.display())
                    });
                }
            }
        }
        Command::Service(ServiceCmd::Register { name }) => {
            let (vault, _) = open(g).await?;
            let secret = crate::auth::new_secret();
            // Registered by the operator: approved at once.
            let id = vault.register_service(&name, &crate::auth::hash_token(&secret), true).await?;
            out.emit(json!({"service_id": id, "secret": secret}), || {
                format!("service {id}\nsecret {secret}\n(the secret is shown once; store it now)")
            });
        }
        Command::Audit(AuditCmd::Refusals { days }) => {
            let (vault, _) = open(g).await?;
            let today = OffsetDateTime::now_utc().unix_timestamp().div_euclid(86_400);
            let rows = vault.api().outsider_refusals(today - i64::from(days.max(1)) + 1).await?;
            let list: Vec<_> = rows
                .iter()
                .map(|(day, caller, family, reason, count)| {
                    let date = OffsetDateTime::from_unix_timestamp(day * 86_400).map(|t| t.date().to_string()).unwrap_or_default();
                    json!({"day": date, "caller": caller, "family_id": family, "reason": reason, "count": count})
                })
                .collect();
            out.emit(json!({"refusals": list}), || {
                list.iter()
                    .map(|r| format!("{}  {}  family {}  {}  ×{}", r["day"].as_str().unwrap_or(""), r["caller"].as_str().unwrap_or(""), r["family_id"].as_str().unwrap_or(""), r["reason"].as_str().unwrap_or(""), r["count"]))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Service(ServiceCmd::Approve { service }) => {
            let (vault, _) = open(g).await?;
            vault.approve_service(service).await?;
            out.emit(json!({"service_id": service, "approved": true}), || format!("service {service} may now ask families for access"));
        }
        Command::Service(ServiceCmd::Pending) => {
            let (vault, _) = open(g).await?;
            let pending = vault.services_awaiting_approval().await?;
            let list: Vec<_> = pending.iter().map(|(id, name)| json!({"service_id": id, "name": name})).collect();
            out.emit(json!({"services": list}), || pending.iter().map(|(id, name)| format!("{id}  {name}")).collect::<Vec<_>>().join("\n"));
        }
        Command::Request(cmd) => {
            let (vault, _) = open(g).await?;
            match cmd {
                RequestCmd::Create { service, family, child, doctype, actions, purpose, legal_basis, days } => {
                    let id = vault
                        .create_request(NewRequest { service, family, child, doctypes: doctype, actions, purpose, legal_basis, duration_days: days })
                        .await?;
                    out.emit(json!({"request_id": id}), || id.to_string());
                }
                RequestCmd::Approve { family, request, by } => {
                    // The operator records the member's decision: the ledger names the operator, for the member.
                    let result = vault.approve(&grant_permit(&vault, family, request).await?, request, Some(by)).await?;
                    let value = serde_json::to_value(&result)?;
                    out.emit(value, || approval_text(&result));
                }
                RequestCmd::Deny { family, request, by } => {
                    let result = vault.deny(&grant_permit(&vault, family, request).await?, request, Some(by)).await?;
                    out.emit(serde_json::to_value(&result)?, || format!("request {request} denied"));
                }
            }
        }
        Command::Grant(cmd) => {
            let (vault, _) = open(g).await?;
            match cmd {
                GrantCmd::List { family } => {
                    let grants = vault.list_grants(&vault.as_operator(family, Action::List, Resource::Register).await?).await?;
                    out.emit(json!({"grants": grants}), || {
                        grants
                            .iter()
                            .map(|g| {
                                let doctypes: Vec<&str> = g.doctypes.iter().map(|d| d.as_str()).collect();
                                let actions: Vec<&str> = g.actions.iter().map(|a| a.as_str()).collect();
                                format!(
                                    "{}  {:21}  child {}  {}  {}{}",
                                    g.id,
                                    g.state.as_str(),
                                    g.child,
                                    doctypes.join(","),
                                    actions.join(","),
                                    g.expires_at.map(|e| format!("  until {e}")).unwrap_or_default()
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                }
                GrantCmd::Revoke { family, grant, by } => {
                    let result = vault.revoke(&grant_permit(&vault, family, grant).await?, grant, by).await?;
                    out.emit(serde_json::to_value(&result)?, || format!("grant {grant} revoked"));
                }
                GrantCmd::Confirm { family, grant, by } => {
                    let result = vault.confirm(&grant_permit(&vault, family, grant).await?, grant, Some(by)).await?;
                    out.emit(serde_json::to_value(&result)?, || format!("grant {grant} confirmed"));
                }
            }
        }
        Command::Policy(cmd) => {
            let (vault, _) = open(g).await?;
            match cmd {
                PolicyCmd::Forbid { family, doctype, child, by } => {
                    let scope = child.map_or(ForbidScope::Minors, ForbidScope::Adult);
                    let permit = vault.as_operator(family, Action::Manage, Resource::Family).await?;
                    let added = vault.forbid(&permit, doctype, scope, by).await?;
                    out.emit(json!({"family_id": family, "forbidden": doctype, "child_id": child, "added": added}), || {
                        if added { format!("{doctype} is now never shared") } else { format!("{doctype} was already never shared") }
                    });
                }
                PolicyCmd::Lift { family, doctype, child, by } => {
                    let scope = child.map_or(ForbidScope::Minors, ForbidScope::Adult);
                    let permit = vault.as_operator(family, Action::Manage, Resource::Family).await?;
                    let lifted = vault.lift_prohibition(&permit, doctype, scope, by).await?;
                    if !lifted {
                        bail!("there is no such prohibition of {doctype}");
                    }
                    out.emit(json!({"family_id": family, "lifted": doctype, "child_id": child}), || format!("{doctype} may be shared again under a grant"));
                }
                PolicyCmd::Show { family } => {
                    let text = vault.policy_text(&vault.as_operator(family, Action::Read, Resource::Register).await?).await?;
                    out.emit(json!({"family_id": family, "policies": text}), || text.clone());
                }
            }
        }
        Command::Access(AccessCmd::Check { family, principal, action, record, doctype, child, at }) => {
            let (vault, _) = open(g).await?;
            let principal = parse_principal(&principal)?;
            let now = match at {
                Some(at) => OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339).map_err(|_| anyhow!("--at must be an RFC 3339 time, e.g. 2026-09-01T08:00:00Z"))?,
                None => OffsetDateTime::now_utc(),
            };
            let resource = match (record, child, doctype) {
                (Some(id), _, _) => vault.record_resource(family, id).await?,
                (None, Some(child), Some(doctype)) => Resource::Collection { child, doctype },
                _ => bail!("give --record, or --child with --doctype"),
            };
            let decision = vault.explain(family, &AccessRequest { principal, action, resource, now }).await?;
            let word = if decision.is_allowed() { "allow" } else { "deny" };
            let reasons: Vec<String> = decision.reasons().iter().map(ToString::to_string).collect();
            out.emit(json!({"decision": word, "reasons": reasons}), || format!("{word}\n{}", reasons.join("\n")));
        }
        Command::Ledger(cmd) => match cmd {
            LedgerCmd::CheckProof { file, key } => {
                let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read `{}`", file.display()))?;
                let checked = crate::ledger_check::check_proof(&text, &key)?;
                out.emit(checked.clone(), || format!("ok: entry {} is in {} at size {}", checked["index"], checked["origin"], checked["size"]));
            }
            cmd => {
                let (vault, _) = open(g).await?;
                match cmd {
                    LedgerCmd::Verify { family } => {
                        let report = vault.verify_ledger(family).await?;
                        out.emit(serde_json::to_value(&report)?, || {
                            format!(
                                "ok: {} entries, root {}, {} checkpoint(s) and {} grant(s) checked",
                                report.size, report.root, report.checkpoints_checked, report.grants_checked
                            )
                        });
                    }
                    LedgerCmd::Checkpoint { family } => {
                        let note = vault.checkpoint(&vault.operator_register(family).await?).await?;
                        out.emit(json!({"family_id": family, "checkpoint": note}), || note.trim_end().to_owned());
                    }
                    LedgerCmd::Proof { family, entry } => {
                        let proof = vault.inclusion_proof(&vault.operator_register(family).await?, entry).await?;
                        out.emit(json!({"family_id": family, "entry": entry, "proof": proof}), || proof.trim_end().to_owned());
                    }
                    LedgerCmd::List { family, since, event, service, limit } => {
                        let since = since
                            .map(|s| OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339))
                            .transpose()
                            .map_err(|_| anyhow!("--since must be an RFC 3339 time"))?;
                        let event = event
                            .map(|e| e.parse::<cartable_consent::ledger::EventType>())
                            .transpose()
                            .map_err(|e| anyhow!("{e}"))?;
                        let permit = vault.operator_register(family).await?;
                        let entries = vault.ledger_entries(&permit, &LedgerFilter { subject: None, since, event, service, after_index: None, limit: Some(limit) }).await?;
                        out.emit(json!({"family_id": family, "entries": entries}), || {
                            entries
                                .iter()
                                .map(|e| {
                                    let time = e.receipt.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                                    format!("{:6}  {time}  {}", e.index, e.receipt.event.as_str())
                                })
                                .collect::<Vec<_>>()
                                .join("\n")
                        });
                    }
                    LedgerCmd::Key => {
                        let key = vault.ledger_verifier_key();
                        out.emit(json!({"verifier_key": key}), || key.clone());
                    }
                    LedgerCmd::CheckProof { .. } => unreachable!("handled above"),
                }
            }
        },
        Command::Key(KeyCmd::Rotate) => {
            let (vault, config) = open(g).await?;
            let count = vault.rotate_master_key().await?;
            out.emit(json!({"rewrapped": count, "master_key_file": config.vault.master_key_path()}), || {
                format!("{count} family key(s) re-wrapped; the old master key is destroyed")
            });
        }
    }
    Ok(())
}

/// The operator at the console holds the master key; its accesses are still decided and logged.
async fn operator_permit(vault: &Vault, family: FamilyId, action: Action, resource: Resource) -> anyhow::Result<cartable_vault::Permit> {
    Ok(vault.authorize(family, Principal::Operator, action, resource).await?.into_permit()?)
}

/// Writes `reader` to `dest` as a file only its owner reads (0600): into a new file with a random name in
/// `dest`'s folder, created exclusively (an existing file or a planted symlink at that name is never opened, let
/// alone followed), synced, then renamed over `dest`. A failed copy leaves nothing behind.
fn write_private_file(dest: &std::path::Path, reader: &mut dyn Read) -> anyhow::Result<u64> {
    let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = dest.file_name().ok_or_else(|| anyhow!("`{}` is not a file path", dest.display()))?;
    let mut options = std::fs::OpenOptions::new();
    // `create_new` is O_CREAT|O_EXCL: it fails on any existing entry, symlinks included, without following it.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let (tmp, mut file) = (0..8)
        .find_map(|_| {
            let mut tmp_name = std::ffi::OsString::from(".");
            tmp_name.push(name);
            tmp_name.push(format!(".{:016x}.partial", rand::random::<u64>()));
            let tmp = dir.join(tmp_name);
            match options.open(&tmp) {
                Ok(file) => Some(Ok((tmp, file))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            }
        })
        .unwrap_or_else(|| Err(std::io::ErrorKind::AlreadyExists.into()))
        .with_context(|| format!("cannot create a file beside `{}`", dest.display()))?;
    let copied = std::io::copy(reader, &mut file)
        .map_err(|_| anyhow!("the stored file is corrupted or truncated"))
        .and_then(|n| {
            file.sync_all()?;
            std::fs::rename(&tmp, dest).with_context(|| format!("cannot write `{}`", dest.display()))?;
            Ok(n)
        });
    if copied.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    copied
}

fn read_body(source: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    if source == "-" {
        std::io::stdin().read_to_string(&mut text).context("cannot read the body from standard input")?;
    } else {
        text = std::fs::read_to_string(source).with_context(|| format!("cannot read `{source}`"))?;
    }
    Ok(text)
}

fn parse_date(s: &str) -> anyhow::Result<time::Date> {
    time::Date::parse(s, &time::format_description::well_known::Iso8601::DATE).map_err(|_| anyhow!("`{s}` is not a date (YYYY-MM-DD)"))
}

fn parse_principal(s: &str) -> anyhow::Result<Principal> {
    if s == "operator" {
        return Ok(Principal::Operator);
    }
    let (kind, id) = s.split_once(':').ok_or_else(|| anyhow!("a principal is `service:ID`, `member:ID`, `dpo:ID` or `operator`"))?;
    Ok(match kind {
        "service" => Principal::Service(id.parse::<ServiceId>()?),
        "member" => Principal::Member(id.parse::<MemberId>()?),
        "dpo" => Principal::Dpo(id.parse::<DpoId>()?),
        other => bail!("unknown principal kind `{other}` (service, member, dpo, operator)"),
    })
}

fn approval_text(r: &cartable_vault::ApprovalResult) -> String {
    if r.missing.is_empty() {
        format!("grant {} is {}", r.grant, r.state.as_str())
    } else {
        format!("grant {} is {}; still needed: {}", r.grant, r.state.as_str(), r.missing.join(", "))
    }
}

/// The operator's permit to act on a grant: to manage the first collection it names (decided and logged).
async fn grant_permit(vault: &Vault, family: FamilyId, grant: GrantId) -> anyhow::Result<cartable_vault::Permit> {
    let outline = vault.grant_outline(family, grant).await?;
    let doctype = *outline.doctypes.first().ok_or_else(|| anyhow!("grant `{grant}` names no collection"))?;
    Ok(vault.as_operator(family, Action::Manage, Resource::Collection { child: outline.child, doctype }).await?)
}
