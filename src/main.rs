//! The `cohost` command line.

mod serve;
mod wast;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Run component-model .wast scripts.
    Wast {
        /// The core engine to run guests on.
        #[arg(long, value_enum, default_value_t = EngineChoice::default())]
        engine: EngineChoice,
        /// The scripts.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineChoice {
    /// wasmtime (Cranelift JIT).
    Jit,
    /// wasmi (interpreter).
    Interp,
}

impl Default for EngineChoice {
    fn default() -> Self {
        if cfg!(feature = "jit") {
            EngineChoice::Jit
        } else {
            EngineChoice::Interp
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve::serve(args),
        Command::Request(args) => serve::request(args),
        Command::Wast { engine, files } => run_wast(engine, &files),
    }
}

fn run_wast(engine: EngineChoice, files: &[PathBuf]) -> ExitCode {
    let report = match engine {
        #[cfg(feature = "jit")]
        EngineChoice::Jit => match backend_wasmtime::WasmtimeEngine::new() {
            Ok(e) => run_all(&e, files),
            Err(e) => {
                eprintln!("cohost: cannot start the jit engine: {e}");
                return ExitCode::FAILURE;
            }
        },
        #[cfg(feature = "interp")]
        EngineChoice::Interp => run_all(&backend_wasmi::WasmiEngine::new(), files),
        #[allow(unreachable_patterns)]
        _ => {
            eprintln!("cohost: this build does not include that engine");
            return ExitCode::FAILURE;
        }
    };
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

fn run_all<E: engine_abi::engine::Engine>(engine: &E, files: &[PathBuf]) -> wast::Report {
    let mut report = wast::Report::default();
    for file in files {
        report.merge(wast::run_file(engine, file));
    }
    report
}
