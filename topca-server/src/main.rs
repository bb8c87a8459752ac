//! `topca-server [--data-dir DIR] [--listen ADDR:PORT] [--algorithm ALG]`: prepares
//! everything on first start (see `topca_server::setup`) and serves the centres.

use std::sync::Arc;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("topca-server: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let options =
        topca_server::setup::Options::parse(std::env::args().skip(1)).map_err(|e| e.to_string())?;
    let (state, report) = topca_server::setup::start(&options).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
        println!("TopCA is running.");
        for line in report {
            println!("  {line}");
        }
        let host = state
            .base_url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ':']).next())
            .unwrap_or("127.0.0.1")
            .to_owned();
        let tls = topca_server::tls::server_config(&options.tls, &state.ca, &host)
            .map_err(|e| e.to_string())?;
        let state = Arc::new(state);
        tokio::spawn(topca_server::refresh_crls(Arc::clone(&state)));
        let app = topca_server::router(state);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let served = match tls {
            Some(config) => {
                let listener = topca_server::tls::TlsListener::new(listener, config);
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            None => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        served.map_err(|e| format!("the server stopped: {e}"))
    })
}
