//! Permissions as capabilities: administrative RA operations take an [`RaOps`],
//! which only an [`Administrator`] holding the RA role can hand out (KMC operations
//! a [`KmcOps`], from the KMC role). Whoever
//! authenticates administrators (the server's login, or the embedding application)
//! builds the `Administrator`; the RA never sees a bare role flag.

use crate::error::RaError;

/// What an administrator may do (SPEC §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdminRole {
    /// Manages CAs and administrators.
    SuperAdmin = 1,
    /// Approves requests and configures accounts.
    RaAdmin = 2,
    /// Handles escrowed keys and key recovery.
    KmcAdmin = 3,
}

/// An administrator whose identity has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Administrator {
    /// Login name, as written in the audit log.
    pub name: String,
    /// Roles granted.
    pub roles: Vec<AdminRole>,
}

impl Administrator {
    /// The capability to run RA operations, if this administrator has the RA role.
    pub fn ra_ops(&self) -> Result<RaOps, RaError> {
        if self.roles.contains(&AdminRole::RaAdmin) {
            Ok(RaOps {
                admin: self.name.clone(),
            })
        } else {
            Err(RaError::NotPermitted("RA administrator"))
        }
    }

    /// The capability to manage administrators and CA settings, if this
    /// administrator has the super-administrator role.
    pub fn super_ops(&self) -> Result<SuperOps, RaError> {
        if self.roles.contains(&AdminRole::SuperAdmin) {
            Ok(SuperOps {
                admin: self.name.clone(),
            })
        } else {
            Err(RaError::NotPermitted("super administrator"))
        }
    }

    /// Whether this administrator may read audit entries of `area`: super
    /// administrators every area, RA and KMC administrators their own.
    pub fn reads_audit(&self, area: crate::audit::AuditArea) -> bool {
        use crate::audit::AuditArea;
        self.roles.iter().any(|role| {
            matches!(
                (role, area),
                (AdminRole::SuperAdmin, _)
                    | (AdminRole::RaAdmin, AuditArea::Ra)
                    | (AdminRole::KmcAdmin, AuditArea::Kmc)
            )
        })
    }

    /// The capability to run KMC operations, if this administrator has the KMC role.
    pub fn kmc_ops(&self) -> Result<KmcOps, RaError> {
        if self.roles.contains(&AdminRole::KmcAdmin) {
            Ok(KmcOps {
                admin: self.name.clone(),
            })
        } else {
            Err(RaError::NotPermitted("KMC administrator"))
        }
    }
}

/// Proof that a KMC administrator is acting; required by every KMC method. It
/// cannot be built except through [`Administrator::kmc_ops`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmcOps {
    admin: String,
}

impl KmcOps {
    /// The acting administrator's name.
    pub fn admin(&self) -> &str {
        &self.admin
    }
}

/// Proof that an RA administrator is acting; required by every administrative RA
/// method. It cannot be built except through [`Administrator::ra_ops`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaOps {
    admin: String,
}

impl RaOps {
    /// The acting administrator's name.
    pub fn admin(&self) -> &str {
        &self.admin
    }
}

/// Proof that a super administrator is acting; required to manage administrators
/// and CA settings. It cannot be built except through [`Administrator::super_ops`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuperOps {
    admin: String,
}

impl SuperOps {
    /// The acting administrator's name.
    pub fn admin(&self) -> &str {
        &self.admin
    }
}
