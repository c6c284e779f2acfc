//! Embedding cohost in an app: a wasi:http component handles requests
//! in-process, with no socket, on whichever engine this build and this OS
//! allow (`auto`). Built without the JIT, it has no code generator at all
//! and never asks for executable memory, as on iOS:
//!
//! ```sh
//! cargo run --example embed --no-default-features --features interp
//! ```

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// The bundled example component (`examples/hello`): `/` and `/hello/NAME`.
const HELLO: &[u8] = include_bytes!("hello.wasm");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Limits and the outgoing policy: every request gets at most 32 MiB of
    // linear memory and 2 s, and may fetch only from one host. One instance
    // serves up to 100 requests in turn (hello keeps no state, so each
    // answer is the same; a guest that does sees its memory persist).
    let config = host_http::Config::default()
        .max_memory_bytes(32 << 20)
        .timeout(Some(Duration::from_secs(2)))
        .max_body_bytes(1 << 20)
        .allow_host("https://api.example.com")?
        .max_instance_reuse_count(100);
    let handler = cohost::Handler::new(HELLO, config)?;
    println!("{}", handler.selection());

    // The guest runs on tokio tasks; a current-thread runtime is enough.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        for path in ["/", "/hello/embedder", "/hello/you?from=app"] {
            let req = http::Request::get(path)
                .header(http::header::HOST, "app.local")
                .body(Full::new(Bytes::new()))?;
            let resp = handler.handle(req).await;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            println!(
                "GET {path} -> {status}: {}",
                String::from_utf8_lossy(&body).trim_end()
            );
        }
        Ok(())
    })
}
