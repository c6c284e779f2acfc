//! A bare hyper 1 HTTP/1.1 server answering every request with the body
//! `examples/hello.wasm` gives (`hello from cohost\n`), with no wasm at
//! all: the physical limit of a hyper server on this machine, the top line
//! of `benches/load.sh`'s table.
//!
//! `cargo bench --bench hyper_hello -- --serve 127.0.0.1:8099` serves until
//! killed; without `--serve` (as `cargo test --benches` runs it) it exits
//! at once. Like `cohost serve`, it runs a multi-threaded tokio runtime and
//! keeps connections alive.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr: Option<SocketAddr> = None;
    while let Some(a) = args.next() {
        if a == "--serve" {
            let value = args.next().expect("--serve needs an address");
            addr = Some(value.parse().expect("--serve ADDR: an IP:port"));
        }
    }
    let Some(addr) = addr else {
        println!("hyper_hello: pass `--serve IP:PORT` to serve (benches/load.sh does)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        println!(
            "hyper_hello: serving on http://{}",
            listener.local_addr().unwrap()
        );
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    let mut resp =
                        http::Response::new(Full::new(Bytes::from_static(b"hello from cohost\n")));
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
