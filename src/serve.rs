//! `cohost serve` and `cohost request`: thin layers over host-http's
//! embedding API.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use engine_abi::engine::Engine;
use host_http::{Config, Handler, Server, ServerConfig};
use http_body_util::BodyExt;

use crate::EngineChoice;

/// `cohost serve`: serve a wasi:http/proxy component over HTTP/1.1 and h2c.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The core engine to run guests on.
    #[arg(long, value_enum, default_value_t = EngineChoice::default())]
    engine: EngineChoice,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(flatten)]
    limits: LimitArgs,
    /// Requests handled at once; more get 503.
    #[arg(long, default_value_t = ServerConfig::DEFAULT_MAX_CONCURRENCY)]
    max_concurrency: usize,
    /// How long a client may take to send a request head (then the
    /// connection is closed).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    header_timeout: Duration,
    /// More logging: -v debug, -vv trace.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// The component (a .wasm file).
    component: PathBuf,
}

/// Limits and outgoing policy, shared by `serve` and `request`.
#[derive(clap::Args)]
struct LimitArgs {
    /// Allow outgoing requests to this host (`http://127.0.0.1:8080`,
    /// `https://example.com`, `example.com`, `*`); repeatable. Default: none.
    #[arg(long = "allow-host", value_name = "URL")]
    allow_host: Vec<String>,
    /// Concurrent outgoing requests per request.
    #[arg(long, default_value_t = host_http::DEFAULT_MAX_OUTGOING)]
    max_outgoing: usize,
    /// Trust the CA certificate(s) in this PEM file for outgoing https,
    /// besides the Mozilla roots; repeatable.
    #[arg(long = "ca-cert", value_name = "PEM")]
    ca_cert: Vec<PathBuf>,
    /// Largest linear memory per request, e.g. `64M`, `1G`, `1048576`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<usize>,
    /// Time budget per request, e.g. `30s`, `500ms`, `2m`; `0` for none.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
}

impl LimitArgs {
    fn config(&self) -> Result<Config, String> {
        let mut config = Config::default().max_outgoing(self.max_outgoing);
        for h in &self.allow_host {
            config = config.allow_host(h).map_err(|e| e.to_string())?;
        }
        for path in &self.ca_cert {
            let pem =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            config = config
                .add_root_certificates_pem(&pem)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if let Some(m) = self.memory_limit {
            config = config.max_memory_bytes(m);
        }
        if let Some(t) = self.timeout {
            config = config.timeout((!t.is_zero()).then_some(t));
        }
        Ok(config)
    }
}

/// `cohost request`: run one request in-process, without a socket; status
/// and headers to stderr, body to stdout. Exits 1 when the component gives
/// no response (it trapped, ran out of time or memory, returned without
/// setting one, or set an error-code) or its body fails half way; a
/// response the component made exits 0, whatever its status.
#[derive(clap::Args)]
pub struct RequestArgs {
    /// The core engine to run guests on.
    #[arg(long, value_enum, default_value_t = EngineChoice::default())]
    engine: EngineChoice,
    /// The method (default GET, or POST with -d).
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,
    /// A request header, `name: value`; repeatable.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// The request body, or `@FILE` to read it from a file.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<String>,
    #[command(flatten)]
    limits: LimitArgs,
    /// More logging: -v debug, -vv trace.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// The component (a .wasm file).
    component: PathBuf,
    /// The path and query to request.
    #[arg(default_value = "/")]
    path: String,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("`{s}` is not a size"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}` (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration"))?;
    Ok(match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "us" => Duration::from_micros(n),
        "m" | "min" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        other => {
            return Err(format!(
                "unknown duration unit `{other}` (use ms, s, m or h)"
            ));
        }
    })
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => tracing::Level::INFO,
        1 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Run `f` with the engine `choice` names, or a one-line error.
macro_rules! with_engine {
    ($choice:expr, |$e:ident| $body:expr) => {
        match $choice {
            #[cfg(feature = "jit")]
            EngineChoice::Jit => match backend_wasmtime::WasmtimeEngine::new() {
                Ok($e) => $body,
                Err(err) => {
                    eprintln!("cohost: cannot start the jit engine: {err}");
                    ExitCode::FAILURE
                }
            },
            #[cfg(feature = "interp")]
            EngineChoice::Interp => {
                let $e = backend_wasmi::WasmiEngine::new();
                $body
            }
            #[allow(unreachable_patterns)]
            _ => {
                eprintln!("cohost: this build does not include that engine");
                ExitCode::FAILURE
            }
        }
    };
}

fn load<E: Engine>(engine: &E, path: &PathBuf, config: Config) -> Result<Handler<E>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Handler::new(engine, &bytes, config).map_err(|e| format!("{}: {e}", path.display()))
}

/// `cohost serve`.
pub fn serve(args: ServeArgs) -> ExitCode {
    init_logging(args.verbose);
    with_engine!(args.engine, |engine| serve_on(engine, &args))
}

fn serve_on<E: Engine>(engine: E, args: &ServeArgs) -> ExitCode {
    let config = match args.limits.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cohost: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handler = match load(&engine, &args.component, config) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("cohost: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cohost: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server_config = ServerConfig {
        max_concurrency: args.max_concurrency,
        header_read_timeout: args.header_timeout,
    };
    let result = rt.block_on(async {
        let server = Server::bind(args.addr, handler, server_config).await?;
        println!(
            "cohost: serving {} on http://{} ({} engine)",
            args.component.display(),
            server.local_addr(),
            engine.name()
        );
        let _ = std::io::stdout().flush();
        server.run_until(host_http::shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cohost: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cohost request`.
pub fn request(args: RequestArgs) -> ExitCode {
    init_logging(args.verbose);
    with_engine!(args.engine, |engine| request_on(engine, &args))
}

fn build_request(args: &RequestArgs) -> Result<http::Request<http_body_util::Full<Bytes>>, String> {
    let body = match &args.data {
        None => Bytes::new(),
        Some(d) => match d.strip_prefix('@') {
            Some(file) => std::fs::read(file)
                .map(Bytes::from)
                .map_err(|e| format!("cannot read {file}: {e}"))?,
            None => Bytes::from(d.clone()),
        },
    };
    let method = match &args.method {
        Some(m) => m.to_ascii_uppercase(),
        None if args.data.is_some() => "POST".into(),
        None => "GET".into(),
    };
    let path = if args.path.starts_with('/') {
        args.path.clone()
    } else {
        format!("/{}", args.path)
    };
    let mut builder = http::Request::builder()
        .method(method.as_str())
        .uri(&path)
        .header(http::header::HOST, "localhost");
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("header `{h}` is not `name: value`"))?;
        builder = builder.header(k.trim(), v.trim());
    }
    if args.data.is_some() {
        builder = builder.header(http::header::CONTENT_LENGTH, body.len());
    }
    builder
        .body(http_body_util::Full::new(body))
        .map_err(|e| format!("invalid request: {e}"))
}

fn request_on<E: Engine>(engine: E, args: &RequestArgs) -> ExitCode {
    let run = || -> Result<(), String> {
        let config = args.limits.config()?;
        let handler = load(&engine, &args.component, config)?;
        let req = build_request(args)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        rt.block_on(async {
            let resp = handler.handle(req).await;
            let failure = resp.extensions().get::<host_http::GuestFailure>().cloned();
            let (parts, mut body) = resp.into_parts();
            eprintln!("HTTP/1.1 {}", parts.status);
            for (k, v) in &parts.headers {
                eprintln!("{k}: {}", String::from_utf8_lossy(v.as_bytes()));
            }
            eprintln!();
            let mut out = std::io::stdout().lock();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| format!("the response body failed: {e}"))?;
                match frame.into_data() {
                    Ok(data) => out.write_all(&data).map_err(|e| format!("stdout: {e}"))?,
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            for (k, v) in &trailers {
                                eprintln!("{k}: {}", String::from_utf8_lossy(v.as_bytes()));
                            }
                        }
                    }
                }
            }
            out.flush().map_err(|e| format!("stdout: {e}"))?;
            match failure {
                Some(f) => Err(format!("no response from the component: {}", f.reason)),
                None => Ok(()),
            }
        })
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cohost: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12Q").is_err());
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
    }
}
