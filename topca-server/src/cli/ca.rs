//! `ca chain`, `ca crl`, `ca init`, `ca import-cert`, `ca move-to-token`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{DataArgs, EXIT_CODES, non_empty, non_empty_path};

/// The CA.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Prints the CA chain, PEM (reads only; fails on a data directory without a CA).
    #[command(after_help = EXIT_CODES)]
    Chain(DataArgs),
    /// Issues a full CRL now, under the publishing lease as the serving nodes do.
    #[command(after_help = EXIT_CODES)]
    Crl(DataArgs),
    /// Before the first start: makes an existing CA this TopCA's issuing CA
    /// (--import-key KEY --import-cert CERT [--chain ROOT]; the key's passphrase
    /// in TOPCA_IMPORT_PASSPHRASE), makes the key and a request for an
    /// external root (--csr OUT), or makes the CAs with keys in a PKCS#11 token
    /// (--pkcs11 URI).
    #[command(after_help = EXIT_CODES)]
    Init(InitArgs),
    /// Installs the certificate an external root signed for the request of
    /// `ca init --csr`.
    #[command(after_help = EXIT_CODES)]
    ImportCert(ImportCertArgs),
    /// With the server stopped: moves the issuing CA's key file into the PKCS#11
    /// token URI names (sensitive, not extractable), then deletes the file.
    #[command(after_help = EXIT_CODES)]
    MoveToToken(MoveToTokenArgs),
}

/// `ca move-to-token`.
#[derive(Debug, Args)]
pub struct MoveToTokenArgs {
    /// The token and the key's label, e.g. pkcs11:token=topca;object=topca-issuing
    /// (the PIN in TOPCA_PKCS11_PIN or TOPCA_PKCS11_PIN_FILE).
    #[arg(value_parser = non_empty)]
    pub uri: String,
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
}

/// `ca init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The existing CA's private key (PKCS#8 PEM).
    #[arg(long, value_name = "KEY", requires = "import_cert", conflicts_with = "csr",
          value_parser = non_empty_path)]
    pub import_key: Option<PathBuf>,
    /// The existing CA's certificate.
    #[arg(long, value_name = "CERT", requires = "import_key", value_parser = non_empty_path)]
    pub import_cert: Option<PathBuf>,
    /// The chain above the imported CA, up to its root.
    #[arg(long, value_name = "ROOT", value_parser = non_empty_path)]
    pub chain: Option<PathBuf>,
    /// Where to write the certificate request for an external root.
    #[arg(long, value_name = "OUT", required_unless_present_any = ["import_key", "pkcs11"],
          value_parser = non_empty_path)]
    pub csr: Option<PathBuf>,
    /// Makes the root and issuing CAs with keys in the PKCS#11 token this URI
    /// names (generated there unless it holds them); the PIN comes from
    /// TOPCA_PKCS11_PIN or TOPCA_PKCS11_PIN_FILE, the module from module-path= or
    /// TOPCA_PKCS11_MODULE.
    #[arg(long, value_name = "URI", conflicts_with_all = ["import_key", "csr"],
          value_parser = non_empty)]
    pub pkcs11: Option<String>,
    /// The request's common name [default: TopCA Issuing CA ALG].
    #[arg(long, value_name = "CN", requires = "csr", value_parser = non_empty)]
    pub common_name: Option<String>,
    /// The request's organization.
    #[arg(long, value_name = "O", requires = "csr", value_parser = non_empty)]
    pub organization: Option<String>,
    /// The key algorithm of the request [default: sm2].
    #[arg(long, value_name = "ALG", env = "TOPCA_ALGORITHM", value_parser = non_empty)]
    pub algorithm: Option<String>,
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
}

/// `ca import-cert`.
#[derive(Debug, Args)]
pub struct ImportCertArgs {
    /// The certificate the root signed.
    #[arg(value_parser = non_empty_path)]
    pub cert: PathBuf,
    /// The root's chain.
    #[arg(long, value_name = "ROOT", value_parser = non_empty_path)]
    pub chain: PathBuf,
    /// The data directory and configuration file.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Runs a `ca` command.
pub fn run(command: CaCommand) -> Result<(), String> {
    match command {
        CaCommand::Chain(data) => {
            let state = loaded(&data)?;
            print!("{}", state.ca.chain_pem());
            Ok(())
        }
        CaCommand::Crl(data) => {
            let state = loaded(&data)?;
            let now = state.ca.environment().clock().now();
            let crl = topca_server::crl_sync::publish_since(
                &state,
                topca_server::crl_sync::CrlKind::Full,
                now,
            )
            .map_err(|e| e.message)?;
            println!(
                "CRL {} issued: {} revoked certificates, next update {}",
                crl.info.number,
                crl.entries,
                topca_core::format_utc(crl.info.next_update)
            );
            Ok(())
        }
        CaCommand::Init(args) => init(args),
        CaCommand::MoveToToken(args) => {
            let options = args.data.options()?;
            let uri = topca_server::hsm::move_to_token(&options.data_dir, &args.uri)
                .map_err(|e| e.to_string())?;
            println!(
                "the issuing CA key is now {uri}; ca/issuing.key was deleted (earlier backups still hold it, encrypted)"
            );
            Ok(())
        }
        CaCommand::ImportCert(args) => {
            let options = args.data.options()?;
            let subject =
                topca_server::ca_init::import_signed(&options.data_dir, &args.cert, &args.chain)
                    .map_err(|e| e.to_string())?;
            println!("issuing CA installed: {subject}");
            Ok(())
        }
    }
}

/// The CA of a data directory that has one; nothing is created when it has not.
fn loaded(data: &DataArgs) -> Result<topca_server::AppState, String> {
    let options = data.options()?;
    topca_server::setup::require_ca(&options.data_dir).map_err(|e| e.to_string())?;
    let (state, _) = topca_server::setup::start(&options).map_err(|e| e.to_string())?;
    Ok(state)
}

/// `ca init`: import an existing CA, or make a request for an external root.
fn init(args: InitArgs) -> Result<(), String> {
    let flags = topca_server::setup::Flags {
        algorithm: args.algorithm.clone(),
        ..args.data.flags().0
    };
    let options = super::FlagsOf(flags).options()?;
    let dir = &options.data_dir;
    if let (Some(key), Some(cert)) = (&args.import_key, &args.import_cert) {
        let passphrase = match std::env::var("TOPCA_IMPORT_PASSPHRASE") {
            Ok(p) if p.is_empty() => {
                return Err(
                    "TOPCA_IMPORT_PASSPHRASE is empty: give the key's passphrase, or unset it for an unencrypted key"
                        .into(),
                );
            }
            Ok(p) => Some(zeroize::Zeroizing::new(p)),
            Err(_) => None,
        };
        let subject = topca_server::ca_init::import(
            dir,
            key,
            passphrase.as_deref().map(String::as_str),
            cert,
            args.chain.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        println!("issuing CA imported: {subject}");
        return Ok(());
    }
    if let Some(uri) = &args.pkcs11 {
        let subjects =
            topca_server::hsm::init(dir, uri, options.algorithm).map_err(|e| e.to_string())?;
        println!("CAs made with keys in the token: {subjects}; no key file was written");
        return Ok(());
    }
    let Some(out) = &args.csr else {
        return Err("ca init needs --import-key KEY --import-cert CERT, or --csr OUT".into());
    };
    let name = args
        .common_name
        .clone()
        .unwrap_or_else(|| format!("TopCA Issuing CA {}", options.algorithm.name()));
    let mut subject = topca_core::DistinguishedName::with_common_name(name).country("CN");
    if let Some(o) = &args.organization {
        subject = subject.organization(o.clone());
    }
    let pem = topca_server::ca_init::request(dir, options.algorithm, &subject)
        .map_err(|e| e.to_string())?;
    std::fs::write(out, pem).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!(
        "certificate request written to {}; when the root has signed it, run: topca-server ca import-cert CERT --chain ROOT",
        out.display()
    );
    Ok(())
}
