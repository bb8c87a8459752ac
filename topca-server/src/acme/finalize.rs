//! Finalization (RFC 8555 §7.4): the CSR must name exactly the order's
//! identifiers; the certificate is issued under the order's profile (a
//! profile the client no longer offers is refused) through the machine clients' path
//! (recorded before signing, stored under the profile's account, audited) and
//! downloaded with its chain as `application/pem-certificate-chain`.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{StatusCode, Uri},
    response::Response,
};
use serde_json::Value;
use topca_core::{
    Certificate, CertificateRequest,
    client::Clients,
    store::{AcmeOrder, AcmeStatus, AcmeStore, CertificateStore},
};

use super::{
    AcmeProblem, Reply,
    jws::unb64,
    order::{is_ip, order_url, order_view, own_order},
    profile_client, signed,
};
use crate::{AppError, AppState};

/// The names a CSR asks for (its common name, its DNS names in lower case and
/// its iPAddress names in canonical text), sorted, once each. An IP address
/// must be an iPAddress name (RFC 8738 §4), never a dNSName; e-mail names are
/// refused.
fn requested_names(csr: &CertificateRequest) -> Result<Vec<String>, AcmeProblem> {
    let alt = csr.alt_names();
    if !alt.emails.is_empty() {
        return Err(AcmeProblem::bad_csr(
            "the CSR may name DNS names and IP addresses only, as the order does",
        ));
    }
    if csr.names_an_ip_address_as_dns_name() || alt.dns_names.iter().any(|n| is_ip(n)) {
        return Err(AcmeProblem::bad_csr(
            "the CSR names an IP address as a DNS name; an IP address goes in an iPAddress name",
        ));
    }
    let mut names: Vec<String> = alt.dns_names.clone();
    names.extend(alt.ip_addresses.iter().map(ToString::to_string));
    if let Some(cn) = csr.subject().common_name.as_deref() {
        let cn = cn.trim_end_matches('.');
        match cn.parse::<std::net::IpAddr>() {
            Ok(ip) => names.push(ip.to_string()),
            Err(_) => names.push(cn.to_ascii_lowercase()),
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// `POST /acme/order/{id}/finalize` with `{"csr": base64url DER}`.
pub(super) async fn finalize(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    signed(state, uri, body, move |s, request| {
        let account = request.account()?.clone();
        let order = super::challenge::ready_if_authorized(s, own_order(s, &account, &id)?)?;
        let client = profile_client(s, &account.profile)
            .map_err(|_| AcmeProblem::unauthorized("this ACME profile is disabled"))?;
        if order.status != AcmeStatus::Ready {
            return Err(AcmeProblem::order_not_ready(format!(
                "the order is {}, not ready",
                order.status.label()
            )));
        }
        let payload = request.json()?;
        let csr = payload
            .get("csr")
            .and_then(Value::as_str)
            .ok_or_else(|| AcmeProblem::malformed("the payload has no csr"))?;
        let csr = CertificateRequest::from_der(&unb64(csr, "csr")?)
            .map_err(|e| AcmeProblem::bad_csr(format!("the CSR is not usable: {e}")))?;
        let names = requested_names(&csr)?;
        if names != order.identifiers {
            return Err(AcmeProblem::bad_csr(format!(
                "the CSR names [{}]; it must name exactly the order's identifiers [{}]",
                names.join(", "),
                order.identifiers.join(", ")
            )));
        }
        let processing = AcmeOrder {
            status: AcmeStatus::Processing,
            ..order
        };
        if !s.store.update_acme_order(&processing, AcmeStatus::Ready)? {
            return Err(AcmeProblem::order_not_ready(
                "the order is being finalized already",
            ));
        }
        let issued = Clients::new(&s.ca, &s.store).issue(&client, &csr, processing.profile);
        let certificate = match issued {
            Ok(certificate) => certificate,
            Err(e) => {
                // Back to ready: the client may try another CSR.
                let ready = AcmeOrder {
                    status: AcmeStatus::Ready,
                    ..processing.clone()
                };
                s.store.update_acme_order(&ready, AcmeStatus::Processing)?;
                let error = AppError::from(e);
                return Err(if error.is_internal() {
                    AcmeProblem::internal("issue the certificate", &error.message)
                } else {
                    AcmeProblem::bad_csr(error.message)
                });
            }
        };
        let valid = AcmeOrder {
            status: AcmeStatus::Valid,
            certificate: Some(certificate.serial_hex()),
            ..processing
        };
        s.store.update_acme_order(&valid, AcmeStatus::Processing)?;
        tracing::info!(serial = %certificate.serial_hex(), order = %valid.id, "ACME certificate issued");
        Ok(Reply::json(StatusCode::OK, order_view(s, &valid)).at(order_url(s, &valid.id)))
    })
    .await
}

/// `POST /acme/cert/{id}` (POST-as-GET): the certificate of order `id`,
/// then the issuing CA and the root.
pub(super) async fn certificate(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    signed(state, uri, body, move |s, request| {
        let order = own_order(s, request.account()?, &id)?;
        let serial = order
            .certificate
            .ok_or_else(|| AcmeProblem::not_found("certificate"))?;
        let record = s
            .store
            .certificate(&serial)?
            .ok_or_else(|| AcmeProblem::not_found("certificate"))?;
        let certificate = Certificate::from_der(&record.der)
            .map_err(|e| AcmeProblem::internal("read the certificate", &e))?;
        Ok(Reply::pem(format!(
            "{}{}",
            certificate.to_pem(),
            s.ca.chain_pem()
        )))
    })
    .await
}
