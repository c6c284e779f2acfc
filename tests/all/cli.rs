//! The `cohost` binary as users run it: `cohost serve` as a process on
//! 127.0.0.1 (every route of the Rust fixture, both engines, graceful
//! shutdown on SIGTERM), and `cohost request`'s output and exit codes.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::{Conn, get, tls_upstream};

/// The binary, with its default compile cache under `target/` rather than
/// the user's home.
pub(crate) fn cohost() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cohost"));
    cmd.env(
        "XDG_CACHE_HOME",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cache"),
    );
    cmd
}

pub(crate) fn fixture_path(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn example_path(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// A `cohost serve` process, killed if still running when dropped.
pub(crate) struct ServeProcess {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl ServeProcess {
    fn start(engine: &str, wasm: &str, extra: &[&str]) -> ServeProcess {
        Self::start_path(engine, &fixture_path(wasm), extra)
    }

    fn start_path(engine: &str, wasm: &std::path::Path, extra: &[&str]) -> ServeProcess {
        let mut cmd = cohost();
        cmd.args(["serve", "--engine", engine, "--addr", "127.0.0.1:0"])
            .args(extra)
            .arg(wasm);
        Self::spawn(cmd, engine)
    }

    /// Run `cmd` (a `cohost serve … --addr 127.0.0.1:0`) and wait until it
    /// says where it listens, on engine `engine`.
    pub(crate) fn spawn(mut cmd: Command, engine: &str) -> ServeProcess {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cohost serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        // The first line says where it listens:
        // `cohost: serving PATH on http://ADDR (ENGINE engine)`.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "no address in `{line}`; stderr:\n{}",
                    stderr.lock().unwrap()
                )
            });
        assert!(
            line.contains(&format!("({engine} engine)")),
            "first line: {line}"
        );
        ServeProcess {
            child,
            addr,
            stderr,
        }
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGTERM, then the exit status (within 30 s).
    fn terminate(&mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("cohost serve did not stop within 30 s of SIGTERM");
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_every_route(engine: &str) {
    let hello = ServeProcess::start(engine, "hello.wasm", &[]);
    let r = get(hello.addr, "/");
    assert_eq!((r.status, r.text().as_str()), (200, "hello from cohost\n"));

    let upstream = hello.addr;
    let url = format!("http://127.0.0.1:{}/", upstream.port());
    let tls = tls_upstream();
    let tls_url = format!("https://127.0.0.1:{}/", tls.port);
    let ca = fixture_path("tls/ca.pem");
    let mut s = ServeProcess::start(
        engine,
        "rust-http.wasm",
        &[
            "--allow-host",
            &url,
            "--allow-host",
            &tls_url,
            "--ca-cert",
            ca.to_str().unwrap(),
            "--max-outgoing",
            "2",
            "--timeout",
            "20s",
        ],
    );
    let r = get(s.addr, "/inspect?x=1");
    assert_eq!(r.status, 200);
    assert!(
        r.text()
            .starts_with("method: GET\npath-with-query: /inspect?x=1\nscheme: http\n"),
        "{}",
        r.text()
    );
    assert_eq!(get(s.addr, "/status/404").status, 404);
    let r = get(s.addr, "/stream/100000");
    assert_eq!((r.status, r.body.len(), r.complete), (200, 100_000, true));
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let r = Conn::open(s.addr).request("POST", "/echo", Some(&body));
    assert!(r.status == 200 && r.body == body, "echo: {}", r.status);
    assert_eq!(get(s.addr, "/sleep/10").text(), "slept 10");
    assert_eq!(get(s.addr, "/random/16").body.len(), 32);
    assert_eq!(get(s.addr, "/log").text(), "logged");
    let r = get(s.addr, &format!("/fetch?url={url}"));
    assert_eq!((r.status, r.text().as_str()), (200, "hello from cohost\n"));
    let r = get(s.addr, &format!("/fetch?url={tls_url}"));
    assert_eq!((r.status, r.text().as_str()), (200, "hello over tls\n"));
    let r = get(s.addr, &format!("/fetch-many?n=3&url={url}"));
    assert_eq!(r.text(), "200\n200\nErrorCode::ConnectionLimitReached\n");
    let r = get(s.addr, "/fetch?url=http://127.0.0.1:1/");
    assert_eq!(r.text(), "ErrorCode::HttpRequestDenied");
    assert_eq!(get(s.addr, "/trap").status, 500);
    assert_eq!(get(s.addr, "/status/201").status, 201);

    // A request in flight when SIGTERM comes is finished; then exit 0.
    let addr = s.addr;
    let slow = std::thread::spawn(move || get(addr, "/sleep/700"));
    std::thread::sleep(Duration::from_millis(250));
    let status = s.terminate();
    let r = slow.join().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slept 700"));
    assert!(status.success(), "exit status {status}");

    let log = s.stderr();
    for needle in [
        "rust-http: log to stdout",
        "rust-http: log to stderr",
        "denied",
        "trapped",
        "shutting down",
    ] {
        assert!(log.contains(needle), "no `{needle}` in the log:\n{log}");
    }
}

/// `cohost serve --max-instance-reuse-count 2`: two requests per instance
/// (the reuse guest answers 200 + how many requests its instance served).
fn serve_reusing(engine: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tmp");
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = dir.join(format!("reuse-{engine}.wasm"));
    std::fs::write(&wasm, crate::reuse::reuse_component()).unwrap();
    let s = ServeProcess::start_path(
        engine,
        &wasm,
        &[
            "--max-instance-reuse-count",
            "2",
            "--idle-instance-timeout",
            "10s",
        ],
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(get(s.addr, "/count").status);
        // The response is out a moment before the instance is idle again.
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(statuses, [201, 202, 201, 202, 201], "{engine}");
    let log = s.stderr();
    assert!(
        log.contains("instance reuse: up to 2 requests per instance, idle ones kept 10s"),
        "{log}"
    );
}

#[test]
fn a_log_flood_is_cut_at_max_log_bytes() {
    // `/log` writes `rust-http: log to stdout\n` then the same to stderr.
    let s = ServeProcess::start("interp", "rust-http.wasm", &["--max-log-bytes", "10"]);
    let r = get(s.addr, "/log");
    assert_eq!((r.status, r.text().as_str()), (200, "logged"));
    std::thread::sleep(Duration::from_millis(200));
    let log = s.stderr();
    assert!(log.contains("rust-http:"), "{log}");
    assert!(
        log.contains("the guest wrote more than 10 bytes to stdout and stderr"),
        "{log}"
    );
    assert!(
        !log.contains("log to stdout") && !log.contains("log to stderr"),
        "{log}"
    );
    assert_eq!(
        log.matches("the rest of this request's output is dropped")
            .count(),
        1
    );
}

/// The limits' flags reach the host: `cohost request` with room for two
/// host resources traps and says why; `cohost serve` answers 431 past
/// `--max-request-headers` and `--max-request-head-bytes`, cuts a body past
/// `--max-body-bytes`, and 503 past `--max-instances`.
#[test]
fn limits_from_the_command_line() {
    let out = cohost()
        .args(["request", "--engine", "interp", "--max-host-resources", "2"])
        .arg(fixture_path("rust-http.wasm"))
        .arg("/status/204")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("more than 2 host resources"), "{stderr}");
    let s = ServeProcess::start(
        "interp",
        "rust-http.wasm",
        &[
            "--max-request-headers",
            "5",
            "--max-request-head-bytes",
            "9K",
            "--max-body-bytes",
            "1000",
            "--max-instances",
            "1",
            "--outgoing-first-byte-timeout",
            "1s",
        ],
    );
    let mut c = Conn::open(s.addr);
    let six: Vec<(String, &str)> = (0..5).map(|i| (format!("x-{i}"), "v")).collect();
    let six: Vec<(&str, &str)> = six.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    c.send("GET", "/status/204", &six, None);
    assert_eq!(c.receive().status, 431);
    let mut c = Conn::open(s.addr);
    c.send(
        "GET",
        "/status/204",
        &[("x-big", &"a".repeat(10_000))],
        None,
    );
    assert_eq!(c.receive().status, 431);
    let r = get(s.addr, "/stream/5000");
    assert!(
        r.status == 200 && r.body.len() <= 1000 && !r.complete,
        "{}",
        r.body.len()
    );
    let addr = s.addr;
    let slow = std::thread::spawn(move || get(addr, "/sleep/500").status);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(get(s.addr, "/status/204").status, 503);
    assert_eq!(slow.join().unwrap(), 200);
    assert_eq!(get(s.addr, "/status/204").status, 204);
}

#[test]
fn serve_reuses_instances_when_asked() {
    serve_reusing("jit");
    serve_reusing("interp");
}

#[test]
fn serve_process_jit() {
    serve_every_route("jit");
}

#[test]
fn serve_process_interp() {
    serve_every_route("interp");
}

/// The README's main command serves `examples/hello.wasm`; it does, on
/// both engines.
#[test]
fn example_hello_serves() {
    for engine in ["jit", "interp"] {
        let s = ServeProcess::start_path(engine, &example_path("hello.wasm"), &[]);
        let r = get(s.addr, "/");
        assert_eq!((r.status, r.text().as_str()), (200, "hello from cohost\n"));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        let r = get(s.addr, "/hello/world?x=1");
        assert_eq!((r.status, r.text().as_str()), (200, "hello, world\n"));
    }
}

/// `cohost request`: status and headers on stderr, body on stdout; exit 0
/// for any response the guest made, 1 when it made none.
#[test]
fn request_output_and_exit_codes() {
    for engine in ["jit", "interp"] {
        let out = cohost()
            .args(["request", "--engine", engine])
            .arg(fixture_path("rust-http.wasm"))
            .arg("/status/503")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{engine}: {stderr}");
        assert!(stderr.starts_with("HTTP/1.1 503"), "{engine}: {stderr}");

        let out = cohost()
            .args(["request", "--engine", engine, "-d", "abc"])
            .args(["-H", "content-type: text/x-test"])
            .arg(fixture_path("rust-http.wasm"))
            .arg("/echo")
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"abc");
        assert!(String::from_utf8_lossy(&out.stderr).contains("content-type: text/x-test"));

        let out = cohost()
            .args(["request", "--engine", engine])
            .arg(fixture_path("rust-http.wasm"))
            .arg("/trap")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{engine}: {stderr}");
        // The log line saying why, the head, and the one-line verdict.
        assert!(
            stderr.contains("the guest trapped: wasm `unreachable`"),
            "{engine}: {stderr}"
        );
        assert!(stderr.contains("\nHTTP/1.1 500"), "{engine}: {stderr}");
        assert!(
            stderr.contains("cohost: no response from the component: the component failed"),
            "{engine}: {stderr}"
        );
    }
}

/// The jit's compile cache: the first start compiles and stores every core
/// module, the next loads them all; entries made unusable (garbage, or cut
/// short) are ignored with a warning and compiled again, never trusted;
/// `--no-cache` neither reads nor writes.
#[test]
fn compile_cache() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cache-cli");
    let _ = std::fs::remove_dir_all(&dir);
    let request = |extra: &[&str]| {
        let out = cohost()
            .args(["request", "-v", "--engine", "jit", "--cache-dir"])
            .arg(&dir)
            .args(extra)
            .arg(fixture_path("rust-http.wasm"))
            .arg("/status/201")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("HTTP/1.1 201"), "{stderr}");
        stderr
    };
    let cache_files = || -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut dirs = vec![dir.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if !p.to_string_lossy().ends_with(".stats") {
                    files.push(p);
                }
            }
        }
        files
    };

    let first = request(&[]);
    assert!(first.contains("compiled and cached, 0 loaded"), "{first}");
    let entries = cache_files();
    assert!(!entries.is_empty(), "nothing written to {}", dir.display());

    let second = request(&[]);
    assert!(
        second.contains("core modules loaded from the compile cache"),
        "{second}"
    );

    // Garbage where the compressed code was, and an entry cut in half.
    std::fs::write(&entries[0], b"not a cache entry").unwrap();
    for e in &entries[1..] {
        let bytes = std::fs::read(e).unwrap();
        std::fs::write(e, &bytes[..bytes.len() / 2]).unwrap();
    }
    let third = request(&[]);
    assert!(third.contains("compiled and cached, 0 loaded"), "{third}");
    assert!(
        third.contains("WARN"),
        "no warning about the bad entry: {third}"
    );

    let _ = std::fs::remove_dir_all(&dir);
    let uncached = request(&["--no-cache"]);
    assert!(uncached.contains("loaded in"), "{uncached}");
    assert!(cache_files().is_empty(), "--no-cache wrote to the cache");
}

/// `cohost serve` on the jit reserves an instance pool sized from the
/// component and `--max-concurrency` and serves from it; `--no-pooling`
/// allocates per request. Both answer alike.
#[test]
fn serve_with_and_without_a_pool() {
    let pooled = ServeProcess::start("jit", "rust-http.wasm", &["--max-concurrency", "8"]);
    let plain = ServeProcess::start("jit", "rust-http.wasm", &["--no-pooling"]);
    for s in [&pooled, &plain] {
        for _ in 0..20 {
            let r = get(s.addr, "/status/202");
            assert_eq!(r.status, 202);
        }
    }
    let log = pooled.stderr();
    assert!(
        log.contains("instance pool for 8 requests at once"),
        "{log}"
    );
    assert!(
        !plain.stderr().contains("instance pool"),
        "{}",
        plain.stderr()
    );
}

/// `cohost::Handler`, the embedding API `examples/embed.rs` shows: `auto`
/// picks the JIT here and says why; an explicit choice is honoured; limits
/// apply; a bad component is an error, not a panic.
#[test]
fn embedding_handler() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    let hello = std::fs::read(example_path("hello.wasm")).unwrap();
    let get = |handler: &cohost::Handler, path: &str| {
        crate::block_on(async {
            let req = http::Request::get(path)
                .header(http::header::HOST, "app.local")
                .body(Full::new(Bytes::new()))
                .unwrap();
            let resp = handler.handle(req).await;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        })
    };
    let config = host_http::Config::default()
        .max_memory_bytes(32 << 20)
        .allow_host("https://api.example.com")
        .unwrap();
    let auto = cohost::Handler::new(&hello, config.clone()).unwrap();
    assert_eq!(
        auto.selection().to_string(),
        "engine: jit (executable memory allowed)"
    );
    assert_eq!(get(&auto, "/hello/you?x=1"), (200, "hello, you\n".into()));
    let interp = cohost::Handler::with_engine(
        cohost::engines::EngineChoice::Interp,
        &Default::default(),
        &hello,
        config,
    )
    .unwrap();
    assert_eq!(interp.selection().to_string(), "engine: interp (requested)");
    assert_eq!(get(&interp, "/"), (200, "hello from cohost\n".into()));
    // Too little memory for the guest's own: every request fails cleanly.
    let tiny = host_http::Config::default().max_memory_bytes(64 << 10);
    let starved = cohost::Handler::new(&hello, tiny).unwrap();
    assert_eq!(get(&starved, "/").0, 500);
    let err = cohost::Handler::new(b"not wasm", host_http::Config::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("not a wasm component"), "{err}");
}

/// Bad input to the CLI: a one-line error and a non-zero exit, no panic.
#[test]
fn cli_errors() {
    let run = |args: &[&str]| {
        let out = cohost().args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let not_wasm = fixture_path("hello.wat");
    let not_wasm = not_wasm.to_str().unwrap();
    let hello = fixture_path("hello.wasm");
    let hello = hello.to_str().unwrap();

    let (code, err) = run(&["request", not_wasm]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("cohost: ") && err.contains("hello.wat"),
        "{err}"
    );

    let (code, err) = run(&["serve", "/no/such/file.wasm"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.starts_with("cohost: cannot read /no/such/file.wasm"),
        "{err}"
    );

    let (code, err) = run(&["serve", "--ca-cert", hello, hello]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no CERTIFICATE in the PEM data"), "{err}");

    let (code, err) = run(&["serve", "--engine", "quantum", hello]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("invalid value 'quantum'"), "{err}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, err) = run(&["serve", "--engine", "interp", "--addr", &addr, hello]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
