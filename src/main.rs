//! The `cohost` command line.

mod serve;
mod wast;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use cohost::engines::{self, AnyEngine, EngineChoice, WithEngine};

#[derive(Parser)]
#[command(name = "cohost", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a wasi:http component over HTTP/1.1 and h2c.
    Serve(serve::ServeArgs),
    /// Run one request through a component in-process, without a socket.
    Request(serve::RequestArgs),
    /// List the engines this build has and which ones can run here.
    Engines,
    /// Run component-model .wast scripts.
    Wast {
        /// The core engine to run guests on.
        #[arg(long, value_enum, default_value_t = EngineChoice::default())]
        engine: EngineChoice,
        /// Largest linear memory of a script's instances, e.g. `64M`
        /// [default: none beyond the 4 GiB a 32-bit memory addresses].
        #[arg(long, value_name = "SIZE", value_parser = serve::parse_size)]
        memory_limit: Option<usize>,
        /// The scripts.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    // `cohost --version` names the engines built in (`cohost engines` also
    // says which can run here).
    let version = format!(
        "{} (engines: {})",
        env!("CARGO_PKG_VERSION"),
        engines::built_in_names()
    );
    let version: &'static str = Box::leak(version.into_boxed_str());
    let matches = Cli::command().version(version).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Request(args) => serve::request(args),
        Command::Wast {
            engine,
            memory_limit,
            files,
        } => run_wast(engine, wast::Options { memory_limit }, &files),
        Command::Engines => {
            print!("{}", engines::report());
            ExitCode::SUCCESS
        }
    }
}

fn run_wast(choice: EngineChoice, options: wast::Options, files: &[PathBuf]) -> ExitCode {
    let engine = match engines::select(choice)
        .map_err(|e| e.to_string())
        .and_then(|s| AnyEngine::new(s.kind, &Default::default()))
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cohost: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = engine.run(RunAll(files, options));
    for f in &report.failed {
        println!("{f}");
    }
    println!("{} passed, {} failed", report.passed, report.failed.len());
    if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Every script, on one engine.
struct RunAll<'a>(&'a [PathBuf], wast::Options);

impl WithEngine for RunAll<'_> {
    type Output = wast::Report;
    fn run<E: engine_abi::engine::Engine>(self, engine: E) -> wast::Report {
        let mut report = wast::Report::default();
        for file in self.0 {
            report.merge(wast::run_file(&engine, file, self.1));
        }
        report
    }
}
