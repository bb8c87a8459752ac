//! Retrieval of an approved request's certificate with the mailed PIN and the user
//! password (获取用户证书), for the holder's key or one the CA generates.

use crate::{
    audit::AuditAction,
    csr::CertificateRequest,
    error::{Error, RaError},
    lifecycle::RequestState,
};

use super::{
    Account, GeneratedKeyDelivery, PinInput, RegistrationAuthority, Request, RequestRef, Retrieved,
    request_target,
};

impl RegistrationAuthority<'_> {
    /// Retrieves the certificate of an approved request with the mailed PIN and the
    /// user password (获取用户证书), for the key in `csr`. Wrong attempts count;
    /// a source is locked out after [`super::RaPolicy::max_attempts`].
    pub fn retrieve(
        &self,
        pin: &str,
        password: &str,
        csr: &CertificateRequest,
    ) -> Result<Retrieved, Error> {
        let (request, account) = self.authenticate_retrieval(pin, password)?;
        self.issue_user_certificate(request, &account, csr.public_key(), None)
    }

    /// Retrieves with a key pair the CA generates (account algorithm), delivered
    /// with the certificate and its chain as a PKCS#12 file protected by the user
    /// password. The private key is not kept.
    pub fn retrieve_with_generated_key(
        &self,
        pin: &str,
        password: &str,
    ) -> Result<GeneratedKeyDelivery, Error> {
        let (request, account) = self.authenticate_retrieval(pin, password)?;
        self.deliver_generated_key(request, &account, password)
    }

    /// Generates a key pair of the account's algorithm, issues its certificate for
    /// `request` and packages key, certificate and chain as PKCS#12 under `password`.
    pub(super) fn deliver_generated_key(
        &self,
        request: Request,
        account: &Account,
        password: &str,
    ) -> Result<GeneratedKeyDelivery, Error> {
        let env = self.ca.environment();
        let key = crate::key::SigningKey::generate(account.settings.algorithm, env.random())?;
        let holder = request.holder.name.clone();
        let issued = self.issue_user_certificate(request, account, key.public_key(), None)?;
        let chain = self.ca.chain();
        let pkcs12 = crate::pkcs12::encode(
            &key,
            &issued.certificate,
            &chain,
            &holder,
            password,
            env.random(),
        )?;
        Ok(GeneratedKeyDelivery {
            certificate: issued.certificate,
            encryption: issued.encryption,
            pkcs12,
        })
    }

    /// Checks a retrieval's PIN and user password; attempts count before the check.
    fn authenticate_retrieval(
        &self,
        pin: &str,
        password: &str,
    ) -> Result<(Request, Account), Error> {
        let pin = PinInput::parse(pin)?;
        self.check_secret(("PIN", pin.reference), pin.secret, |request| {
            request.password_matches(password)
        })
    }

    /// Checks that `secret` opens the approved, unexpired request whose reference
    /// is `reference` (labelled as the form labels it) and that `also` holds for
    /// it. The attempt is counted first; a failure of either check counts as a
    /// wrong attempt, and the second check runs even when the first failed, so
    /// timing tells nothing.
    pub(super) fn check_secret(
        &self,
        (field, reference): (&'static str, &str),
        secret: &str,
        also: impl Fn(&Request) -> bool,
    ) -> Result<(Request, Account), Error> {
        let not_ours = || -> Error {
            RaError::InvalidField {
                field,
                problem: "is not one from the mail".into(),
            }
            .into()
        };
        let reference = RequestRef::parse(reference).ok_or_else(not_ours)?;
        let (mut request, account) = self.load_by_reference(&reference).map_err(|e| match e {
            Error::Ra(RaError::UnknownRequest) => not_ours(),
            other => other,
        })?;
        match request.state {
            RequestState::Approved => {}
            RequestState::Locked => return Err(RaError::Locked.into()),
            RequestState::Expired => return Err(RaError::PinExpired.into()),
            other => return Err(RaError::WrongState(other.label()).into()),
        }
        let now = self.ca.environment().clock().now();
        if request.pin_expires.is_some_and(|end| now >= end) {
            request.state = request.state.expire()?;
            request.pin = None;
            self.store.update_request(&request)?;
            return Err(RaError::PinExpired.into());
        }
        let count = self.count_attempt(&request, "retrieval")?;
        let pin_ok = request.pin.is_some_and(|hash| hash.matches(secret));
        let also_ok = also(&request);
        if !(pin_ok && also_ok) {
            let target = request_target(&request);
            return Err(self
                .attempt_failed(
                    &request,
                    count,
                    (AuditAction::RetrievalFailed, target),
                    "retrieval: wrong PIN or password",
                    |attempts_left| RaError::WrongPinOrPassword { attempts_left },
                )?
                .into());
        }
        Ok((request, account))
    }
}
