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
        let state = Arc::new(state);
        tokio::spawn(topca_server::refresh_crls(Arc::clone(&state)));
        let app = topca_server::router(state);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| format!("the server stopped: {e}"))
    })
}
