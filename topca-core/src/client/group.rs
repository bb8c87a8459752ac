//! Single calls issued together: requests of any machine clients, each checked
//! like [`Clients::issue`] (every policy read fresh, once per account in the
//! group), then reserved in one store transaction, signed, and stored with
//! their audit entries in one transaction, as a batch chunk is
//! ([`Clients::issue_batch`]). Record before sign holds: the reservations are
//! committed before the first signature. Each request gets its own answer; a
//! refused request fails alone, a failed transaction fails the requests it
//! carried.

use crate::{
    certificate::Certificate,
    csr::CertificateRequest,
    error::{Error, PolicyError, RaError, StoreError},
    profile::ProfileKind,
    ra::{Account, AccountId, ServerPolicy},
    store::{AccountStore, BatchIssuanceStore},
};

use super::{
    Clients, MachineClient,
    batch::{Results, Templates, Valid, finished, set},
    checked_request,
};

/// An account and its server policy as read for a group (`None`: no such account).
type Found = Result<Option<(Account, ServerPolicy)>, StoreError>;

/// One single call waiting to be issued with others.
#[derive(Debug, Clone, Copy)]
pub struct SingleRequest<'r> {
    /// The authenticated client asking.
    pub client: &'r MachineClient,
    /// Its verified certificate request.
    pub csr: &'r CertificateRequest,
    /// The profile asked for; the client's default when `None`.
    pub profile: Option<ProfileKind>,
}

impl<'ca, S> Clients<'ca, S>
where
    S: BatchIssuanceStore + AccountStore,
{
    /// Issues each of `requests` as [`Clients::issue`] would, together: one
    /// reservation transaction and one storing transaction for the lot,
    /// signatures on `threads` threads, templates taken from (and added to)
    /// `templates`, which must be this CA's. The results come in the order of
    /// `requests`, one each.
    pub fn issue_group(
        &self,
        requests: &[SingleRequest<'_>],
        templates: &mut Templates<'_>,
        threads: usize,
    ) -> Vec<Result<Certificate, Error>> {
        let mut results: Results = requests.iter().map(|_| None).collect();
        if !templates.of(self.ca) {
            for index in 0..requests.len() {
                set(&mut results, index, Err(PolicyError::TemplateCheck.into()));
            }
            return finished(results);
        }
        let mut accounts: Vec<(AccountId, Found)> = Vec::new();
        for request in requests {
            let id = request.client.account;
            if !accounts.iter().any(|(known, _)| *known == id) {
                accounts.push((id, self.account_and_policy(id)));
            }
        }
        let mut valid = Vec::with_capacity(requests.len());
        for (index, request) in requests.iter().enumerate() {
            let checked = accounts
                .iter()
                .find(|(id, _)| *id == request.client.account)
                .map(|(_, found)| found.as_ref())
                .ok_or(RaError::UnknownAccount)
                .map_err(Error::from)
                .and_then(|found| match found {
                    Ok(Some(found)) => Ok(found),
                    Ok(None) => Err(RaError::UnknownAccount.into()),
                    Err(error) => Err(error.clone().into()),
                })
                .and_then(|(account, policy)| {
                    let (issue, profile) = checked_request(
                        request.client,
                        account,
                        policy,
                        request.csr,
                        request.profile,
                    )?;
                    Ok((account, issue, templates.index_of(&profile)?))
                });
            match checked {
                Ok((account, issue, template)) => valid.push(Valid {
                    index,
                    client: request.client,
                    account,
                    request: issue,
                    template,
                }),
                Err(error) => set(&mut results, index, Err(error)),
            }
        }
        self.issue_valid(templates, &valid, threads, &mut results);
        finished(results)
    }

    /// The account numbered `id` and its server policy, as they are now
    /// (`None`: no such account).
    fn account_and_policy(&self, id: AccountId) -> Found {
        let Some(account) = self.store.account(id)? else {
            return Ok(None);
        };
        let policy = self.store.server_policy(account.id)?.unwrap_or_default();
        Ok(Some((account, policy)))
    }
}
