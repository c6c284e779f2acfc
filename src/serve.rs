//! `cohost serve` and `cohost request`: thin layers over host-http's
//! embedding API.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use cohost::engines::{AnyComponent, EngineChoice, WithComponent};
use engine_abi::Component;
use engine_abi::engine::{Engine, EngineConfig, PoolConfig, StoreLimits};
use host_http::{Config, Handler, Server, ServerConfig};
use http_body_util::BodyExt;

/// `cohost serve`: serve a wasi:http/proxy component over HTTP/1.1 and h2c.
#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Allocate each request's memories, tables and stacks on demand
    /// instead of from an instance pool reserved at startup (jit). The pool
    /// is sized from the component and the smaller of --max-instances and
    /// --max-concurrency; it needs about
    /// 4 GiB of address space (not memory) per linear memory.
    #[arg(long)]
    no_pooling: bool,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(flatten)]
    limits: LimitArgs,
    /// Requests handled at once; more get 503.
    #[arg(long, default_value_t = ServerConfig::DEFAULT_MAX_CONCURRENCY)]
    max_concurrency: usize,
    /// Requests one instance serves, one after another, before it is
    /// dropped; 1 gives each request a fresh instance. A reused instance
    /// keeps its memory: what the guest stores there, the next request
    /// sees. An instance that trapped, ran out of time, hit a memory limit,
    /// set no response or kept a resource of its request is never reused.
    #[arg(long, value_name = "N", default_value_t = Config::DEFAULT_MAX_INSTANCE_REUSE_COUNT)]
    max_instance_reuse_count: u32,
    /// How long an idle instance is kept for reuse.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    idle_instance_timeout: Duration,
    /// Instances alive at once, running or idle; past it an idle one is
    /// dropped to make room, or, if all are running, the request gets 503.
    #[arg(long, value_name = "N", default_value_t = Config::DEFAULT_MAX_INSTANCES)]
    max_instances: usize,
    /// How long a client may take to send a request head (then the
    /// connection is closed).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    header_timeout: Duration,
    /// Largest request head (request line and headers) a client may send,
    /// e.g. `16K`; a bigger one gets 431.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64K")]
    max_request_head_bytes: usize,
    /// Most header fields in a client's request; more get 431.
    #[arg(long, value_name = "N", default_value_t = ServerConfig::DEFAULT_MAX_REQUEST_HEADERS)]
    max_request_headers: usize,
    /// More logging: -v debug, -vv trace.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// The component (a .wasm file).
    component: PathBuf,
}

/// The engine and its compile cache, shared by `serve` and `request`.
#[derive(clap::Args)]
struct EngineArgs {
    /// The core engine to run guests on.
    #[arg(long, value_enum, default_value_t = EngineChoice::default())]
    engine: EngineChoice,
    /// Compile the component's code afresh instead of loading it from the
    /// compile cache, and store nothing there (jit).
    #[arg(long)]
    no_cache: bool,
    /// Where the jit keeps compiled code, keyed by the code's bytes and the
    /// engine's settings [default: $XDG_CACHE_HOME/cohost, or
    /// ~/.cache/cohost].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// The wasm stack of a guest call, e.g. `512K`, `1M`, on both engines
    /// (the same guest reaches about the same depth on each); deeper
    /// recursion traps with "call stack exhausted".
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "512K")]
    max_wasm_stack: usize,
}

impl EngineArgs {
    /// The engine configuration these flags ask for, plus `pool`.
    fn config(&self, pool: Option<PoolConfig>) -> EngineConfig {
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        EngineConfig {
            pool,
            cache_dir,
            max_wasm_stack: self.max_wasm_stack,
        }
    }
}

/// `$XDG_CACHE_HOME/cohost`, or `~/.cache/cohost`; `None` if neither
/// variable is set (no cache then).
fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("cohost"))
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
    /// Bytes of stdout and stderr one request may send to the log, e.g.
    /// `64K`; past it, one line says so and the rest is dropped.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1M")]
    max_log_bytes: usize,
    /// Largest header or trailer section a guest may build, e.g. `16K`;
    /// past it, setting a field fails with `header-error`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64K")]
    max_header_bytes: usize,
    /// Largest request or response body, incoming or outgoing, e.g. `10M`;
    /// past it, the stream fails with a body-size error-code.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1G")]
    max_body_bytes: usize,
    /// Host resources (fields, bodies, streams, pollables…) one request
    /// may hold at once; the call that would make one more traps.
    #[arg(long, value_name = "N", default_value_t = Config::DEFAULT_MAX_HOST_RESOURCES)]
    max_host_resources: usize,
    /// Time an outgoing request may take to connect: the default, and the
    /// most a guest may ask for in request-options.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    outgoing_connect_timeout: Duration,
    /// Time an outgoing request may wait for the response head: the
    /// default, and the most a guest may ask for.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    outgoing_first_byte_timeout: Duration,
    /// Time an outgoing response may go without a body chunk: the default,
    /// and the most a guest may ask for.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    outgoing_between_bytes_timeout: Duration,
}

impl LimitArgs {
    fn config(&self) -> Result<Config, String> {
        let mut config = Config::default()
            .max_outgoing(self.max_outgoing)
            .max_log_bytes(self.max_log_bytes as u64)
            .max_header_bytes(self.max_header_bytes)
            .max_body_bytes(self.max_body_bytes as u64)
            .max_host_resources(self.max_host_resources)
            .outgoing_connect_timeout(self.outgoing_connect_timeout)
            .outgoing_first_byte_timeout(self.outgoing_first_byte_timeout)
            .outgoing_between_bytes_timeout(self.outgoing_between_bytes_timeout);
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
    #[command(flatten)]
    engine: EngineArgs,
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

pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
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

fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Select the engine, start it and compile `bytes` (the component at
/// `path`) on it, then say which engine runs it and why, and what the
/// compile cache did: at info level when `announce` (`serve`), at debug
/// level otherwise (`request`, whose stderr is the response head).
fn load(
    args: &EngineArgs,
    engine_config: &EngineConfig,
    path: &std::path::Path,
    bytes: &[u8],
    announce: bool,
) -> Result<AnyComponent, String> {
    let started = std::time::Instant::now();
    let (component, selection) = AnyComponent::load(args.engine, engine_config, bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let took = started.elapsed();
    let loaded = match component.cache_stats() {
        Some(c) if c.misses == 0 => format!(
            "{}: {} core modules loaded from the compile cache in {took:.1?}",
            path.display(),
            c.hits
        ),
        Some(c) => format!(
            "{}: {} core modules compiled and cached, {} loaded from the cache, in {took:.1?}",
            path.display(),
            c.misses,
            c.hits
        ),
        None => format!("{}: loaded in {took:.1?}", path.display()),
    };
    if announce {
        tracing::info!("{selection}");
        tracing::info!("{loaded}");
    } else {
        tracing::debug!("{selection}");
        tracing::debug!("{loaded}");
    }
    Ok(component)
}

/// `cohost serve`.
pub fn serve(args: ServeArgs) -> ExitCode {
    init_logging(args.verbose);
    // Every mistake in the arguments is reported before the engine starts.
    let (bytes, config) = match read(&args.component).and_then(|b| Ok((b, args.limits.config()?))) {
        Ok((bytes, config)) => (
            bytes,
            config
                .max_instance_reuse_count(args.max_instance_reuse_count)
                .idle_instance_timeout(args.idle_instance_timeout)
                .max_instances(args.max_instances),
        ),
        Err(e) => {
            eprintln!("cohost: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pool = if args.no_pooling {
        None
    } else {
        // A component that does not parse gets its clear error from the
        // load below; here it just gets no pool.
        engine_abi::footprint_of(&bytes)
            .ok()
            .map(|per_store| PoolConfig {
                max_stores: u32::try_from(args.max_concurrency.min(args.max_instances))
                    .unwrap_or(u32::MAX),
                per_store,
                max_memory_bytes: args
                    .limits
                    .memory_limit
                    .unwrap_or(Config::DEFAULT_MAX_MEMORY_BYTES),
                max_table_elements: StoreLimits::DEFAULT_MAX_TABLE_ELEMENTS,
            })
    };
    let engine_config = args.engine.config(pool);
    match load(&args.engine, &engine_config, &args.component, &bytes, true) {
        Ok(component) => component.run(ServeOn {
            args: &args,
            config,
        }),
        Err(e) => {
            eprintln!("cohost: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The rest of `cohost serve`, on the engine the component was compiled on.
struct ServeOn<'a> {
    args: &'a ServeArgs,
    config: Config,
}

impl WithComponent for ServeOn<'_> {
    type Output = ExitCode;
    fn run<E: Engine>(self, engine: E, component: Component<E>) -> ExitCode {
        serve_on(engine, component, self.args, self.config)
    }
}

fn serve_on<E: Engine>(
    engine: E,
    component: Component<E>,
    args: &ServeArgs,
    config: Config,
) -> ExitCode {
    let handler = match Handler::from_component(&engine, &component, config) {
        Ok(h) => {
            if h.reuses_instances() {
                tracing::info!(
                    "instance reuse: up to {} requests per instance, idle ones kept {:?}",
                    args.max_instance_reuse_count,
                    args.idle_instance_timeout
                );
            }
            h
        }
        Err(e) => {
            eprintln!("cohost: {}: {e}", args.component.display());
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
        max_request_head_bytes: args.max_request_head_bytes,
        max_request_headers: args.max_request_headers,
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
    let run = || -> Result<ExitCode, String> {
        let config = args.limits.config()?;
        let req = build_request(&args)?;
        let bytes = read(&args.component)?;
        let component = load(
            &args.engine,
            &args.engine.config(None),
            &args.component,
            &bytes,
            false,
        )?;
        Ok(component.run(RequestOn { config, req }))
    };
    run().unwrap_or_else(|e| {
        eprintln!("cohost: {e}");
        ExitCode::FAILURE
    })
}

/// The rest of `cohost request`, on the engine the component was compiled
/// on.
struct RequestOn {
    config: Config,
    req: http::Request<http_body_util::Full<Bytes>>,
}

impl WithComponent for RequestOn {
    type Output = ExitCode;
    fn run<E: Engine>(self, engine: E, component: Component<E>) -> ExitCode {
        request_on(engine, component, self.config, self.req)
    }
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

fn request_on<E: Engine>(
    engine: E,
    component: Component<E>,
    config: Config,
    req: http::Request<http_body_util::Full<Bytes>>,
) -> ExitCode {
    let run = || -> Result<(), String> {
        let handler =
            Handler::from_component(&engine, &component, config).map_err(|e| e.to_string())?;
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
    fn flag_defaults_are_the_libraries_defaults() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Probe {
            #[command(flatten)]
            engine: EngineArgs,
        }
        let probe = Probe::parse_from(["cohost"]);
        assert_eq!(
            probe.engine.max_wasm_stack,
            EngineConfig::DEFAULT_MAX_WASM_STACK
        );
        #[derive(clap::Parser)]
        struct Limits {
            #[command(flatten)]
            limits: LimitArgs,
        }
        let limits = Limits::parse_from(["cohost"]).limits.config().unwrap();
        let default = Config::default();
        assert_eq!(limits.max_log_bytes, default.max_log_bytes);
        assert_eq!(limits.max_header_bytes, default.max_header_bytes);
        assert_eq!(limits.max_body_bytes, default.max_body_bytes);
        assert_eq!(limits.max_host_resources, default.max_host_resources);
        assert_eq!(limits.outgoing.timeouts, default.outgoing.timeouts);
        assert_eq!(
            limits.outgoing.max_concurrent,
            default.outgoing.max_concurrent
        );
        assert_eq!(limits.max_memory_bytes, default.max_memory_bytes);
        assert_eq!(limits.timeout, default.timeout);
        #[derive(clap::Parser)]
        struct Serve {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let serve = Serve::parse_from(["cohost", "app.wasm"]).serve;
        let server = ServerConfig::default();
        assert_eq!(serve.max_concurrency, server.max_concurrency);
        assert_eq!(serve.header_timeout, server.header_read_timeout);
        assert_eq!(serve.max_request_head_bytes, server.max_request_head_bytes);
        assert_eq!(serve.max_request_headers, server.max_request_headers);
        assert_eq!(serve.max_instances, default.max_instances);
        assert_eq!(
            serve.max_instance_reuse_count,
            default.max_instance_reuse_count
        );
        assert_eq!(serve.idle_instance_timeout, default.idle_instance_timeout);
        let probe = Probe::parse_from(["cohost", "--max-wasm-stack", "64K"]);
        assert_eq!(probe.engine.config(None).max_wasm_stack, 64 << 10);
    }

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
