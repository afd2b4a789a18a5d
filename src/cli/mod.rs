//! The `cartable` command line: operators' and scripts' way into the local vault.
//!
//! This module holds the top level (global options, the commands, `main` and its one-line errors); each area's
//! subcommands and their handlers live in their own module, and what they share in `console`.

mod archive;
mod console;
mod consent;
mod data;
mod demo;
mod family;
mod import;
mod keys;
mod ledger;
mod output;
mod register;
mod search;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{DEFAULT_CONFIG, Overrides};
use console::{Console, Out};

#[derive(Debug, Parser)]
#[command(name = "cartable", version, about = "Cartable: a family's school data, encrypted, shared only by consent, with a verifiable consent ledger")]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

// The `CARTABLE_*` variables are read by `crate::config` alone, with every other key's; the help names them itself.
#[derive(Debug, Args)]
struct Global {
    /// The data folder (database, blobs, keys) [env: CARTABLE_DATA].
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…`; default: SQLite inside the data folder [env: CARTABLE_DATABASE_URL].
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Where blobs go: `s3://bucket[/prefix]`; default: <data>/blobs [env: CARTABLE_BLOB_URL].
    #[arg(long, global = true, value_name = "URL")]
    blob_url: Option<String>,
    /// The master key file; default: <data>/keys/master.key [env: CARTABLE_MASTER_KEY_FILE].
    #[arg(long, global = true, value_name = "FILE")]
    master_key: Option<PathBuf>,
    /// A TOML configuration file (see `cartable default-config`) [env: CARTABLE_CONFIG].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print one JSON object, for scripts.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Families: create, list, delete.
    #[command(subcommand)]
    Family(family::FamilyCmd),
    /// Members of a family: guardians and children.
    #[command(subcommand)]
    Member(family::MemberCmd),
    /// Records: JSON documents in a child's collection.
    #[command(subcommand)]
    Record(data::RecordCmd),
    /// Files: documents of any size, streamed.
    #[command(subcommand)]
    File(data::FileCmd),
    /// Services that ask families for access.
    #[command(subcommand)]
    Service(consent::ServiceCmd),
    /// Access requests: create, approve, deny.
    #[command(subcommand)]
    Request(consent::RequestCmd),
    /// Grants: list, revoke, confirm.
    #[command(subcommand)]
    Grant(consent::GrantCmd),
    /// Family-wide policies.
    #[command(subcommand)]
    Policy(consent::PolicyCmd),
    /// Explain a decision.
    #[command(subcommand)]
    Access(consent::AccessCmd),
    /// The consent ledger.
    #[command(subcommand)]
    Ledger(ledger::LedgerCmd),
    /// The master key.
    #[command(subcommand)]
    Key(keys::KeyCmd),
    /// What the server refused to callers from outside a family (kept apart from the families' ledgers).
    #[command(subcommand)]
    Audit(ledger::AuditCmd),
    /// The notifications' e-mails: how many wait, were sent or given up, and the latest failures.
    Notifications,
    /// Data protection officers: appoint, invite, list.
    #[command(subcommand)]
    Dpo(register::DpoCmd),
    /// The consent register across families: list, export (CSV, JSON lines), the record of processing, verify all.
    #[command(subcommand)]
    Register(register::RegisterCmd),
    /// A family's archive: export (streamed, verifiable), verify.
    #[command(subcommand)]
    Archive(archive::ArchiveCmd),
    /// Records from open formats (xAPI, Open Badges, OneRoster) and files, checked whole before anything is written.
    #[command(subcommand)]
    Import(import::ImportCmd),
    /// Search a family's data (the operator's search is decided and logged like anyone's).
    Search(search::SearchCmd),
    /// Rebuild the search index of a family, or of every family, from the vault.
    Reindex(search::ReindexCmd),
    /// Print the commented default configuration.
    DefaultConfig,
    /// Create a demo family in French once (two guardians, three children, two services), then serve.
    Demo {
        /// The address to listen on [env: CARTABLE_LISTEN].
        #[arg(long)]
        listen: Option<String>,
    },
    /// Run the HTTP server.
    Serve {
        /// The address to listen on [env: CARTABLE_LISTEN].
        #[arg(long)]
        listen: Option<String>,
    },
    /// The search index's PDF reader: a PDF on standard input, its text on standard output (run by the vault).
    #[command(hide = true)]
    ExtractPdfText,
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
    if matches!(cli.command, Command::ExtractPdfText) {
        // Before any runtime, thread or log: the child does one thing, within its own limits.
        return crate::pdf_text::child_main();
    }
    let serve = matches!(cli.command, Command::Serve { .. } | Command::Demo { .. });
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

async fn run(cli: Cli) -> anyhow::Result<()> {
    let g = cli.global;
    let overrides = Overrides { config_file: g.config, data: g.data, database_url: g.database_url, master_key_file: g.master_key, blob_url: g.blob_url, listen: None };
    let console = Console::new(overrides, Out { json: g.json });
    match cli.command {
        Command::DefaultConfig => print!("{DEFAULT_CONFIG}"),
        Command::Serve { listen } => crate::server::serve(console.config(listen)?).await?,
        Command::Demo { listen } => demo::run(&console, listen).await?,
        Command::Family(cmd) => cmd.run(&console).await?,
        Command::Member(cmd) => cmd.run(&console).await?,
        Command::Record(cmd) => cmd.run(&console).await?,
        Command::File(cmd) => cmd.run(&console).await?,
        Command::Service(cmd) => cmd.run(&console).await?,
        Command::Request(cmd) => cmd.run(&console).await?,
        Command::Grant(cmd) => cmd.run(&console).await?,
        Command::Policy(cmd) => cmd.run(&console).await?,
        Command::Access(cmd) => cmd.run(&console).await?,
        Command::Ledger(cmd) => cmd.run(&console).await?,
        Command::Dpo(cmd) => cmd.run(&console).await?,
        Command::Register(cmd) => cmd.run(&console).await?,
        Command::Key(cmd) => cmd.run(&console).await?,
        Command::Audit(cmd) => cmd.run(&console).await?,
        Command::Notifications => ledger::notifications(&console).await?,
        Command::Search(cmd) => cmd.run(&console).await?,
        Command::Archive(cmd) => cmd.run(&console).await?,
        Command::Import(cmd) => cmd.run(&console).await?,
        Command::Reindex(cmd) => cmd.run(&console).await?,
        Command::ExtractPdfText => unreachable!("handled before the runtime starts"),
    }
    Ok(())
}
