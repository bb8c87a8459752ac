//! The command line and the server's life as an operator sees them, through the
//! built binary: help and version everywhere, exit codes, `config check`,
//! `healthcheck`, `mail test`, read-only commands that create nothing, empty
//! secrets and values refused, the request log, and the graceful stop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_topca-server");

/// The binary with `args`, without TOPCA_* variables from the caller.
fn topca(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("TOPCA_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every file and folder under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            found.push(path.strip_prefix(dir).unwrap().to_path_buf());
            if path.is_dir() {
                todo.push(path);
            }
        }
    }
    found.sort();
    found
}

/// A server started from the binary, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    stderr: PathBuf,
}

impl Server {
    /// Starts a server on `data` (JSON logs into `data`'s parent) and waits until
    /// it serves.
    fn start(data: &Path, extra: &[&str]) -> Self {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let stderr = data.with_extension("log");
        let mut command = topca(&["--data-dir", data.to_str().unwrap(), "--listen", &listen]);
        command
            .args(["--algorithm", "p256", "--log-format", "json"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let child = command.spawn().unwrap();
        let server = Self {
            child,
            port,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the server did not start: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits for the process to exit; its exit code.
    fn wait(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 request on a new connection; the whole answer.
fn get(port: u16, path: &str, headers: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn help_and_version_answer_on_every_command() {
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["admin", "add"],
        &["audit", "verify"],
        &["audit", "checkpoint"],
        &["ca", "chain"],
        &["ca", "crl"],
        &["ca", "init"],
        &["ca", "import-cert"],
        &["issuance", "unfinished"],
        &["backup"],
        &["restore"],
        &["node", "join"],
        &["config", "check"],
        &["healthcheck"],
        &["mail", "test"],
    ];
    for command in commands {
        let help = run(topca(command).arg("--help"));
        assert_eq!(help.status.code(), Some(0), "{command:?} --help");
        let said = text(&help.stdout);
        assert!(said.contains("Usage:"), "{command:?}: {said}");
        assert!(
            said.contains("Exit codes: 0 success; 1 failure"),
            "{command:?}: {said}"
        );
        let version = run(topca(command).arg("--version"));
        assert_eq!(version.status.code(), Some(0), "{command:?} --version");
        assert!(text(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn usage_errors_exit_2_and_failures_exit_1() {
    for args in [
        &["bogus"][..],
        &["admin", "add", "root"],
        &["--listen"],
        &["--shutdown-timeout", "0"],
        &["--log-format", "xml"],
        &["ca", "init", "--import-key", "k.pem"],
    ] {
        let out = run(&mut topca(args));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).is_empty());
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run(&mut topca(&[
        "ca",
        "chain",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn empty_or_bad_values_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let empty_name = run(
        topca(&["admin", "add", " ", "--roles", "super", "--data-dir", data])
            .env("TOPCA_ADMIN_PASSWORD", "a long enough password"),
    );
    assert_eq!(empty_name.status.code(), Some(2));
    assert!(text(&empty_name.stderr).contains("the value is empty"));
    let empty_dir = run(&mut topca(&["--data-dir", ""]));
    assert_eq!(empty_dir.status.code(), Some(2));
    let empty_variable = run(topca(&["ca", "chain"]).env("TOPCA_DATA_DIR", ""));
    assert_eq!(empty_variable.status.code(), Some(2));
    let bad_listen = run(&mut topca(&["--data-dir", data, "--listen", "nowhere"]));
    assert_eq!(bad_listen.status.code(), Some(1));
    assert!(text(&bad_listen.stderr).contains("is not ADDRESS:PORT"));
    let bad_role = run(
        topca(&["admin", "add", "x", "--roles", "root", "--data-dir", data])
            .env("TOPCA_ADMIN_PASSWORD", "a long enough password"),
    );
    assert_eq!(bad_role.status.code(), Some(1));
    assert!(text(&bad_role.stderr).contains("unknown role"));
    assert!(
        !dir.path().join("data").exists(),
        "refused values create nothing"
    );
}

#[test]
fn an_empty_ca_passphrase_is_refused_and_no_ca_is_made() {
    for empty in ["", "   "] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let port = free_port().to_string();
        let out = run(topca(&[
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TOPCA_CA_PASSPHRASE", empty));
        assert_eq!(out.status.code(), Some(1));
        let said = text(&out.stderr);
        assert!(said.contains("TOPCA_CA_PASSPHRASE is empty"), "{said}");
        assert!(!data.join("ca").join("issuing.key").exists());
        assert!(!data.join("ca").join("root.key").exists());
    }
}

#[test]
fn read_only_commands_on_an_empty_directory_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let missing = dir.path().join("missing");
    for data in [&empty, &missing] {
        let data_arg = data.to_str().unwrap();
        let out_dir = dir.path().join("backup-out");
        for args in [
            &["ca", "chain"][..],
            &["ca", "crl"],
            &["audit", "verify"],
            &["audit", "checkpoint"],
            &["issuance", "unfinished"],
            &["config", "check"],
            &["backup", out_dir.to_str().unwrap()],
        ] {
            let out = run(topca(args).args(["--data-dir", data_arg]));
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            let said = text(&out.stderr);
            assert!(said.starts_with("topca-server: "), "{args:?}: {said}");
            assert!(
                said.contains("no CA yet")
                    || said.contains("no database")
                    || said.contains("no configuration file"),
                "{args:?}: {said}"
            );
            assert!(!out_dir.exists(), "{args:?}");
        }
    }
    assert!(listing(&empty).is_empty(), "{:?}", listing(&empty));
    assert!(!missing.exists());
}

#[test]
fn config_check_accepts_a_good_file_and_names_the_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("topca.toml");
    let check = |content: &str| {
        std::fs::write(&file, content).unwrap();
        run(&mut topca(&[
            "config",
            "check",
            "--config",
            file.to_str().unwrap(),
        ]))
    };
    let good = check(
        "listen = \"0.0.0.0:8443\"\nalgorithm = \"p256\"\nlog_format = \"json\"\nlog_level = \"topca=debug,info\"\nshutdown_timeout = 10\ntrusted_proxies = [\"10.0.0.0/24\"]\n[mail]\nurl = \"smtp://mail.example.cn:587\"\nfrom = \"TopCA <ca@example.cn>\"\n",
    );
    assert_eq!(good.status.code(), Some(0), "{}", text(&good.stderr));
    assert!(text(&good.stdout).contains("the configuration is valid"));
    for (content, key) in [
        ("lisen = \"0.0.0.0:1\"\n", "lisen"),
        ("listen = \"nowhere\"\n", "listen"),
        ("algorithm = \"dsa\"\n", "algorithm"),
        ("log_format = \"xml\"\n", "log_format"),
        ("log_level = \"[[\"\n", "log_level"),
        ("shutdown_timeout = 0\n", "shutdown_timeout"),
        ("delta_crl = \"yes\"\n", "delta_crl"),
        ("trusted_proxies = [\"10.0.0.0/99\"]\n", "trusted_proxies"),
        ("[mail]\nurl = \"gopher://x\"\n", "mail.url"),
        ("[tls]\nmode = \"self\"\nkey = \"k.pem\"\n", "tls"),
        ("[database]\nurl = \"mysql://x\"\n", "database.url"),
        ("[mail]\nurll = \"smtp://x\"\n", "urll"),
    ] {
        let out = check(content);
        assert_eq!(out.status.code(), Some(1), "{content}");
        let said = text(&out.stderr);
        assert!(said.contains(key), "{content}: {said}");
    }
}

#[test]
fn mail_test_writes_to_the_file_outbox_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(&mut topca(&[
        "mail",
        "test",
        "operator@example.cn",
        "--data-dir",
        data.to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let written = said.split("written to ").nth(1).unwrap().trim();
    assert!(
        written.starts_with(data.join("outbox").to_str().unwrap()),
        "{said}"
    );
    let mail = std::fs::read_to_string(written).unwrap();
    assert!(mail.contains("To: operator@example.cn"), "{mail}");
    let refused = run(&mut topca(&[
        "mail",
        "test",
        "not an address",
        "--data-dir",
        data.to_str().unwrap(),
    ]));
    assert_eq!(refused.status.code(), Some(1));
}

#[test]
fn healthcheck_exits_0_on_a_live_server_and_1_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    assert!(get(server.port, "/healthz", "").ends_with("\r\n\r\nok"));
    let live = run(&mut topca(&["healthcheck", "--url", &server.url()]));
    assert_eq!(live.status.code(), Some(0), "{}", text(&live.stderr));
    let wrong_path = run(&mut topca(&[
        "healthcheck",
        "--url",
        &format!("{}/nothing", server.url()),
    ]));
    assert_eq!(wrong_path.status.code(), Some(1));
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let dead = run(&mut topca(&[
        "healthcheck",
        "--url",
        &nobody,
        "--timeout",
        "2",
    ]));
    assert_eq!(dead.status.code(), Some(1));
    let by_variable = run(topca(&["healthcheck"]).env("TOPCA_HEALTHCHECK_URL", server.url()));
    assert_eq!(by_variable.status.code(), Some(0));
}

#[test]
fn the_request_log_names_route_template_status_and_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &[]);
    let answer = get(
        server.port,
        "/TopCA/ocsp/MFQwUjBQME4wTDAJBgUrDgMCGgUA",
        "x-request-id: probe-42.a_b\r\n",
    );
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-request-id: probe-42.a_b"),
        "{answer}"
    );
    let replaced = get(
        server.port,
        "/healthz",
        &format!("x-request-id: {}\r\n", "x".repeat(65)),
    );
    let replaced_id = replaced
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-request-id: ")
                .map(str::to_owned)
        })
        .unwrap();
    assert_eq!(replaced_id.len(), 32, "{replaced}");
    let refused = get(
        server.port,
        "/api/v1/admin/requests",
        "x-request-id: no-token\r\n",
    );
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    server.signal("TERM");
    assert_eq!(server.wait(Duration::from_secs(30)), 0);
    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let request = |id: &str| {
        lines
            .iter()
            .find(|l| l["target"] == "topca::request" && l["request_id"] == id)
            .unwrap_or_else(|| panic!("no request line for {id}: {log}"))
    };
    let ocsp = request("probe-42.a_b");
    assert_eq!(ocsp["route"], "/TopCA/ocsp/{request}");
    assert_eq!(ocsp["method"], "GET");
    assert!(ocsp["status"].as_u64().is_some());
    assert!(ocsp["latency_ms"].as_f64().is_some());
    assert!(
        !log.contains("MFQwUjBQME4wTDAJBgUrDgMCGgUA"),
        "raw paths stay out of the log"
    );
    assert_eq!(request(&replaced_id)["route"], "/healthz");
    assert_eq!(request("no-token")["status"], 401);
    assert!(
        lines.iter().any(|l| l["target"] == "topca::security"
            && l["level"] == "WARN"
            && l["request_id"] == "no-token"),
        "{log}"
    );
    assert!(lines.iter().any(|l| l["target"] == "topca::audit"), "{log}");
}

/// Opens a POST to the OCSP responder whose body is still coming.
fn slow_post(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /TopCA/ocsp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/ocsp-request\r\nContent-Length: 10\r\nConnection: close\r\n\r\n01234"
    )
    .unwrap();
    stream.flush().unwrap();
    stream
}

#[test]
fn sigterm_drains_a_request_under_way_and_refuses_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &["--shutdown-timeout", "20"]);
    let mut under_way = slow_post(server.port);
    std::thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    // The listener closes at once; the request under way is still served.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", server.port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "new connections are still accepted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "it waits for the request"
    );
    under_way.write_all(b"56789").unwrap();
    let mut answer = String::new();
    under_way.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    assert_eq!(server.wait(Duration::from_secs(20)), 0, "{}", server.log());
    assert!(server.log().contains("stopped cleanly"));
}

#[test]
fn a_request_outliving_the_shutdown_timeout_is_cut_and_the_exit_is_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &["--shutdown-timeout", "1"]);
    let _stalled = slow_post(server.port);
    std::thread::sleep(Duration::from_millis(300));
    server.signal("INT");
    assert_eq!(server.wait(Duration::from_secs(20)), 1, "{}", server.log());
    assert!(server.log().contains("were cut"));
}
