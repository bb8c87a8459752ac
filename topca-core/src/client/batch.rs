//! Batch issuance for a machine client: up to [`MAX_BATCH`] CSRs in one call.
//!
//! Every request is checked like a single one ([`Clients::issue_request`]),
//! against the account and its server policy read once. The valid ones are
//! issued through one [`IssuanceTemplate`] per profile, [`CHUNK`] at a time:
//! the chunk's TBSCertificates are written and their serials reserved with
//! their hashes in one store transaction (record before sign), signed on
//! every thread given, then stored with their audit entries in one
//! transaction. A refused request fails alone; a chunk whose transaction
//! fails fails whole (nothing of it is stored), and a reservation whose
//! certificate was not stored stays open for the operator, as with single
//! issuance ([`crate::issuance::sign_recorded`]).

use std::time::Instant;

use crate::{
    audit::Actor,
    ca::{CertificateAuthority, IssueRequest},
    certificate::Certificate,
    csr::CertificateRequest,
    error::{Error, PolicyError, RaError},
    observe,
    profile::Profile,
    ra::Account,
    store::{AccountStore, BatchIssuanceStore, Reservation},
    template::{IssuanceTemplate, WrittenTbs},
};

use super::{Clients, MachineClient, checked_request, profile_by_name};

/// The most requests in one batch.
pub const MAX_BATCH: usize = 1000;
/// Requests reserved, signed and stored together.
const CHUNK: usize = 200;

/// One request of a batch: a PKCS#10 CSR (PEM or DER) and the name of the
/// profile asked for (`tls-server` or `tls-client`; the client's default when
/// `None`).
#[derive(Debug, Clone, Copy)]
pub struct BatchRequest<'r> {
    /// The certificate request.
    pub csr: &'r [u8],
    /// The profile's name.
    pub profile: Option<&'r str>,
}

/// A request that passed the checks: its index in the batch, whose it is,
/// what to sign, and the template (in a [`Templates`]) to sign it with.
pub(super) struct Valid<'c> {
    pub(super) index: usize,
    pub(super) client: &'c MachineClient,
    pub(super) account: &'c Account,
    pub(super) request: IssueRequest,
    pub(super) template: usize,
}

/// A written TBSCertificate waiting for its signature.
struct Written<'c> {
    index: usize,
    client: &'c MachineClient,
    account: &'c Account,
    template: usize,
    tbs: WrittenTbs,
}

/// One result per request of a batch, in order.
pub(super) type Results = Vec<Option<Result<Certificate, Error>>>;

/// Issuance templates of one CA, made as profiles are asked for and kept for
/// the issuances that follow (making one encodes and compares a probe
/// certificate). Each checks its signatures after signing.
pub struct Templates<'ca> {
    ca: &'ca CertificateAuthority,
    made: Vec<IssuanceTemplate<'ca>>,
}

impl<'ca> Templates<'ca> {
    /// No template yet, for `ca`.
    pub fn new(ca: &'ca CertificateAuthority) -> Self {
        Self {
            ca,
            made: Vec::new(),
        }
    }

    /// The number of the template for `profile`, made now if needed.
    pub(super) fn index_of(&mut self, profile: &Profile) -> Result<usize, Error> {
        if let Some(index) = self.made.iter().position(|t| t.profile() == profile) {
            return Ok(index);
        }
        self.made
            .push(IssuanceTemplate::new(self.ca, profile)?.with_signature_check(true));
        Ok(self.made.len() - 1)
    }

    /// Whether these templates are `ca`'s.
    pub(super) fn of(&self, ca: &CertificateAuthority) -> bool {
        std::ptr::eq(self.ca, ca)
    }

    /// The template numbered `index`.
    fn get(&self, index: usize) -> Result<&IssuanceTemplate<'ca>, Error> {
        self.made
            .get(index)
            .ok_or_else(|| PolicyError::TemplateCheck.into())
    }
}

impl<S> Clients<'_, S>
where
    S: BatchIssuanceStore + AccountStore,
{
    /// Issues a certificate for each of `requests` for `client`, signing on
    /// `threads` threads (at least one, the caller's among them). The results
    /// come in the order of `requests`, one each: the certificate, stored and
    /// audited, or why that request was refused or failed. The call itself
    /// fails only when the batch is over [`MAX_BATCH`], or the account cannot
    /// be read, or no template can be made for a profile asked for.
    pub fn issue_batch(
        &self,
        client: &MachineClient,
        requests: &[BatchRequest<'_>],
        threads: usize,
    ) -> Result<Vec<Result<Certificate, Error>>, Error> {
        if requests.len() > MAX_BATCH {
            return Err(RaError::InvalidField {
                field: "requests",
                problem: format!("at most {MAX_BATCH} in one batch"),
            }
            .into());
        }
        let account = self
            .store
            .account(client.account)?
            .ok_or(RaError::UnknownAccount)?;
        let policy = self.store.server_policy(account.id)?.unwrap_or_default();
        // Reading a CSR verifies its signature: as costly as signing, so on
        // every thread too.
        let checked = on_threads(
            requests.iter().enumerate().collect(),
            threads,
            |(index, item)| {
                let checked = CertificateRequest::parse(item.csr)
                    .map_err(Error::from)
                    .and_then(|csr| {
                        let profile = match item.profile {
                            None => None,
                            Some(name) => Some(profile_by_name(name).ok_or_else(|| {
                                RaError::InvalidField {
                                    field: "profile",
                                    problem: "use tls-server, tls-client or short-lived".to_owned(),
                                }
                            })?),
                        };
                        checked_request(client, &account, &policy, &csr, profile)
                    });
                (index, checked)
            },
        );
        let mut results: Results = requests.iter().map(|_| None).collect();
        let mut templates = Templates::new(self.ca);
        let mut valid = Vec::with_capacity(requests.len());
        for (index, checked) in checked {
            match checked {
                Ok((request, profile)) => valid.push(Valid {
                    index,
                    client,
                    account: &account,
                    request,
                    template: templates.index_of(&profile)?,
                }),
                Err(error) => set(&mut results, index, Err(error)),
            }
        }
        self.issue_valid(&templates, &valid, threads, &mut results);
        Ok(finished(results))
    }

    /// Issues checked requests [`CHUNK`] at a time, filling in their results.
    pub(super) fn issue_valid(
        &self,
        templates: &Templates<'_>,
        valid: &[Valid<'_>],
        threads: usize,
        results: &mut Results,
    ) {
        for chunk in valid.chunks(CHUNK) {
            self.issue_chunk(templates, chunk, threads, results);
        }
    }

    /// Writes, reserves, signs and stores one chunk, filling in its results
    /// and telling the observer of each.
    fn issue_chunk(
        &self,
        templates: &Templates<'_>,
        chunk: &[Valid<'_>],
        threads: usize,
        results: &mut Results,
    ) {
        let started = Instant::now();
        self.write_sign_store(templates, chunk, threads, results);
        let observer = self.ca.environment().observer();
        let each = started.elapsed() / u32::try_from(chunk.len().max(1)).unwrap_or(u32::MAX);
        for item in chunk {
            if let Some(Some(result)) = results.get(item.index) {
                observer.issuance(observe::Outcome::of(result), each);
            }
        }
    }

    /// The work of [`Self::issue_chunk`].
    fn write_sign_store(
        &self,
        templates: &Templates<'_>,
        chunk: &[Valid<'_>],
        threads: usize,
        results: &mut Results,
    ) {
        let now = self.ca.environment().clock().now();
        let mut written = Vec::with_capacity(chunk.len());
        let mut reservations = Vec::with_capacity(chunk.len());
        for item in chunk {
            match templates
                .get(item.template)
                .and_then(|t| Ok((t.profile().kind(), t.write(&item.request)?)))
            {
                Ok((kind, tbs)) => {
                    reservations.push(Reservation {
                        serial: tbs.serial_hex(),
                        tbs_sha256: tbs.tbs_sha256(),
                        profile: kind,
                        requester: Actor::Client(item.client.name.clone()),
                        account: Some(item.account.id),
                        request: None,
                        reserved_at: now,
                        issued: false,
                    });
                    written.push(Written {
                        index: item.index,
                        client: item.client,
                        account: item.account,
                        template: item.template,
                        tbs,
                    });
                }
                Err(error) => set(results, item.index, Err(error)),
            }
        }
        if let Err(error) = self.store.reserve_issuances(&reservations) {
            for item in &written {
                set(results, item.index, Err(error.clone().into()));
            }
            return;
        }
        let signed = on_threads(written, threads, |item| {
            let serial = item.tbs.serial_hex();
            let signed = templates.get(item.template).and_then(|t| {
                let der = t.sign(item.tbs)?;
                Ok((t.profile().kind(), der.into_certificate()?))
            });
            // Signed with the certificate, on its thread; one that fails is
            // left to the background job.
            let response = match (&signed, &self.ocsp) {
                (Ok(_), Some(ocsp)) => ocsp.responder.presign_issued(&serial).ok(),
                _ => None,
            };
            (item.index, item.client, item.account, signed, response)
        });
        let mut stored = Vec::with_capacity(signed.len());
        let mut records = Vec::with_capacity(signed.len());
        let mut responses = Vec::new();
        for (index, client, account, result, response) in signed {
            match result {
                Ok((kind, certificate)) => {
                    records.push(self.records(client, account, &certificate, kind));
                    stored.push((index, certificate));
                    responses.extend(response);
                }
                Err(error) => set(results, index, Err(error)),
            }
        }
        let outcome = self.store.store_certificates_with_ocsp(records, &responses);
        if outcome.is_ok()
            && let Some(ocsp) = &self.ocsp
        {
            for response in responses {
                ocsp.cache.put(response);
            }
        }
        for (index, certificate) in stored {
            let result = match &outcome {
                Ok(()) => Ok(certificate),
                Err(error) => Err(error.clone().into()),
            };
            set(results, index, result);
        }
    }
}

/// The results, every request that got none (which cannot happen) failed.
pub(super) fn finished(results: Results) -> Vec<Result<Certificate, Error>> {
    results
        .into_iter()
        .map(|result| result.unwrap_or_else(|| Err(PolicyError::PostIssuanceCheck.into())))
        .collect()
}

/// Records the result of the request at `index`.
pub(super) fn set(results: &mut Results, index: usize, result: Result<Certificate, Error>) {
    if let Some(slot) = results.get_mut(index) {
        *slot = Some(result);
    }
}

/// `work` applied to each of `items` on `threads` threads (the caller's
/// among them), each taking a contiguous share; results in the order of
/// `items`.
fn on_threads<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    work: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let share = items.len().div_ceil(threads.max(1)).max(1);
    let mut shares: Vec<Vec<T>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        shares.push(items.by_ref().take(share).collect());
    }
    let work = &work;
    let mut shares = shares.into_iter();
    let first = shares.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let helpers: Vec<_> = shares
            .map(|share| scope.spawn(move || share.into_iter().map(work).collect::<Vec<R>>()))
            .collect();
        let mut out: Vec<R> = first.into_iter().map(work).collect();
        // A signer never panics on input; if one did, its share gets no
        // results, and those requests are reported failed.
        for helper in helpers {
            if let Ok(done) = helper.join() {
                out.extend(done);
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_on_threads_comes_back_in_order() {
        for threads in [0, 1, 2, 3, 8, 500] {
            for n in [0, 1, 2, 7, 200] {
                let items: Vec<usize> = (0..n).collect();
                let done = on_threads(items, threads, |i| i * 2);
                assert_eq!(
                    done,
                    (0..n).map(|i| i * 2).collect::<Vec<_>>(),
                    "{threads} {n}"
                );
            }
        }
    }
}
