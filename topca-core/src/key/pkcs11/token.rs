//! A PKCS#11 token: its module (loaded once per path and shared by every token
//! on it), its slot (found by label or serial), the user login, and a bounded
//! pool of sessions. A session or token that goes away (closed sessions, the
//! module finalised, the token removed) is recovered once per operation: the
//! module is restarted (once for all the threads and tokens that saw it go),
//! the slot found again, a new session logged in, and the operation retried;
//! when that fails too the caller gets [`KeyError::TokenLost`].

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Condvar, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use cryptoki::{
    context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11},
    error::{Error as CkError, RvError},
    session::{Session, SessionState, UserType},
    slot::Slot,
    types::AuthPin,
};
use zeroize::Zeroizing;

use super::uri::Pkcs11Uri;
use crate::error::KeyError;

/// Sessions a token keeps open at most unless configured.
pub const DEFAULT_MAX_SESSIONS: usize = 8;

/// How to reach tokens: the module, the PIN and the pool size.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// The PKCS#11 library, unless the URI names one (`module-path=`).
    pub module: Option<PathBuf>,
    /// The user PIN, unless the URI names a file (`pin-source=`).
    pub pin: Option<Zeroizing<String>>,
    /// Sessions open at most at once.
    pub max_sessions: usize,
    /// How long an operation waits for a free session before failing with
    /// [`KeyError::TooManySessions`].
    pub session_wait: Duration,
    /// The vendor mechanism number that signs with SM2 and SM3 (the message
    /// in, the raw `r || s` out), for tokens that hold SM2 keys.
    pub sm2_mechanism: Option<u64>,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("max_sessions", &self.max_sessions)
            .field("sm2_mechanism", &self.sm2_mechanism)
            .finish_non_exhaustive()
    }
}

impl Default for Pkcs11Config {
    fn default() -> Self {
        Self {
            module: None,
            pin: None,
            max_sessions: DEFAULT_MAX_SESSIONS,
            session_wait: Duration::from_secs(10),
            sm2_mechanism: None,
        }
    }
}

impl Pkcs11Config {
    /// The configuration from the environment: `TOPCA_PKCS11_MODULE`,
    /// `TOPCA_PKCS11_PIN` (or `TOPCA_PKCS11_PIN_FILE`), `TOPCA_PKCS11_SESSIONS`
    /// and `TOPCA_PKCS11_SM2_MECHANISM` (decimal or `0x` hexadecimal).
    pub fn from_env() -> Result<Self, KeyError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let pin = match (var("TOPCA_PKCS11_PIN"), var("TOPCA_PKCS11_PIN_FILE")) {
            (Some(pin), _) => Some(Zeroizing::new(pin)),
            (None, Some(file)) => Some(read_pin(Path::new(&file))?),
            (None, None) => None,
        };
        let max_sessions = match var("TOPCA_PKCS11_SESSIONS") {
            Some(n) => n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                KeyError::Pkcs11(format!(
                    "TOPCA_PKCS11_SESSIONS={n} is not a positive number"
                ))
            })?,
            None => DEFAULT_MAX_SESSIONS,
        };
        let sm2_mechanism = var("TOPCA_PKCS11_SM2_MECHANISM")
            .map(|v| {
                let v = v.trim();
                match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => v.parse(),
                }
                .map_err(|_| {
                    KeyError::Pkcs11(format!("TOPCA_PKCS11_SM2_MECHANISM={v} is not a number"))
                })
            })
            .transpose()?;
        Ok(Self {
            module: var("TOPCA_PKCS11_MODULE").map(PathBuf::from),
            pin,
            max_sessions,
            sm2_mechanism,
            ..Self::default()
        })
    }
}

/// Reads a PIN file (its first line).
fn read_pin(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        KeyError::PinMissing(format!(
            "the PIN file {} cannot be read: {e}",
            path.display()
        ))
    })?);
    let pin = text.lines().next().unwrap_or("").trim();
    if pin.is_empty() {
        return Err(KeyError::PinMissing(format!(
            "the PIN file {} is empty",
            path.display()
        )));
    }
    Ok(Zeroizing::new(pin.to_owned()))
}

/// A loaded module, shared by every token on it: its context, and a count of
/// its restarts (object handles and sessions from before one are stale).
struct Module {
    context: Pkcs11,
    generation: AtomicU64,
    /// Held while the module restarts, so that one caller restarts it.
    restarting: Mutex<()>,
}

/// Modules loaded so far: a module is initialised once per process whatever the
/// number of tokens and keys on it.
static MODULES: Mutex<Vec<(PathBuf, Arc<Module>)>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn initialize(context: &Pkcs11) -> Result<(), CkError> {
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) | Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}

fn module(path: &Path) -> Result<Arc<Module>, KeyError> {
    let mut modules = lock(&MODULES);
    if let Some((_, module)) = modules.iter().find(|(p, _)| p == path) {
        return Ok(Arc::clone(module));
    }
    let context = Pkcs11::new(path)
        .map_err(|e| KeyError::Pkcs11Module(format!("{}: {e}", path.display())))?;
    initialize(&context).map_err(|e| KeyError::Pkcs11Module(format!("{}: {e}", path.display())))?;
    let module = Arc::new(Module {
        context,
        generation: AtomicU64::new(0),
        restarting: Mutex::new(()),
    });
    modules.push((path.to_path_buf(), Arc::clone(&module)));
    Ok(module)
}

/// Maps a token's answer to a typed error.
pub(super) fn token_error(e: CkError, max_sessions: usize) -> KeyError {
    match e {
        CkError::Pkcs11(rv, function) => match rv {
            RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange => {
                KeyError::WrongPin
            }
            RvError::PinLocked => KeyError::PinLocked,
            RvError::SessionCount => KeyError::TooManySessions(max_sessions),
            RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::DeviceRemoved
            | RvError::DeviceError
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::CryptokiNotInitialized
            | RvError::UserNotLoggedIn
            | RvError::SlotIdInvalid
            | RvError::ObjectHandleInvalid
            | RvError::KeyHandleInvalid => KeyError::TokenLost(format!("{rv:?} in {function}")),
            // A module that lost its token fails logins and new sessions this
            // way; elsewhere (a GCM tag that does not match) it is no loss.
            RvError::GeneralError
                if matches!(
                    function,
                    Function::Login | Function::OpenSession | Function::GetSessionInfo
                ) =>
            {
                KeyError::TokenLost(format!("{rv:?} in {function}"))
            }
            other => KeyError::Pkcs11(format!("{other:?} in {function}")),
        },
        CkError::LibraryLoading(e) => KeyError::Pkcs11Module(e.to_string()),
        other => KeyError::Pkcs11(other.to_string()),
    }
}

struct Pool {
    /// Idle sessions with the module generation they were opened in.
    idle: Vec<(u64, Session)>,
    open: usize,
}

/// A logged-in PKCS#11 token with a pool of sessions.
pub struct Pkcs11Token {
    module: Arc<Module>,
    uri: Pkcs11Uri,
    pin: AuthPin,
    /// The token's slot and the module generation it was found in.
    slot: Mutex<(u64, Slot)>,
    pool: Mutex<Pool>,
    freed: Condvar,
    max_sessions: usize,
    session_wait: Duration,
    pub(super) sm2_mechanism: Option<u64>,
}

impl std::fmt::Debug for Pkcs11Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Token")
            .field("uri", &self.uri.to_string())
            .finish_non_exhaustive()
    }
}

fn find_slot(context: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot, KeyError> {
    let slots = context
        .get_slots_with_token()
        .map_err(|e| token_error(e, 0))?;
    for slot in slots {
        let Ok(info) = context.get_token_info(slot) else {
            continue;
        };
        let label_ok = uri
            .token
            .as_deref()
            .is_none_or(|t| info.label().trim() == t);
        let serial_ok = uri
            .serial
            .as_deref()
            .is_none_or(|s| info.serial_number().trim() == s);
        if label_ok && serial_ok {
            return Ok(slot);
        }
    }
    Err(KeyError::TokenNotFound(
        uri.token
            .clone()
            .or_else(|| uri.serial.clone())
            .unwrap_or_default(),
    ))
}

impl Pkcs11Token {
    /// Loads the module, finds the token the URI names and logs in, so that a
    /// missing module or token and a wrong PIN fail here.
    pub fn open(uri: &Pkcs11Uri, config: &Pkcs11Config) -> Result<Arc<Self>, KeyError> {
        let path = uri
            .module_path
            .clone()
            .or_else(|| config.module.clone())
            .ok_or_else(|| {
                KeyError::Pkcs11Module(
                    "no PKCS#11 module: add module-path=... to the URI or set TOPCA_PKCS11_MODULE"
                        .into(),
                )
            })?;
        let pin = match (&config.pin, &uri.pin_source) {
            (Some(pin), _) => pin.clone(),
            (None, Some(file)) => read_pin(file)?,
            (None, None) => {
                return Err(KeyError::PinMissing(
                    "set TOPCA_PKCS11_PIN or TOPCA_PKCS11_PIN_FILE, or add pin-source=FILE to the URI"
                        .into(),
                ));
            }
        };
        let module = module(&path)?;
        let slot = find_slot(&module.context, uri)?;
        let generation = module.generation.load(Ordering::Acquire);
        let token = Arc::new(Self {
            module,
            uri: uri.clone(),
            pin: AuthPin::from(pin.as_str()),
            slot: Mutex::new((generation, slot)),
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            max_sessions: config.max_sessions.max(1),
            session_wait: config.session_wait,
            sm2_mechanism: config.sm2_mechanism,
        });
        token.with_session(|_| Ok(()))?;
        Ok(token)
    }

    /// The URI the token was opened with.
    pub fn uri(&self) -> &Pkcs11Uri {
        &self.uri
    }

    /// Whether the token answers: a pooled session still logged in, recovered
    /// when it was lost.
    pub fn check(&self) -> Result<(), KeyError> {
        self.with_session(|session| {
            let info = session.get_session_info().map_err(|e| self.error(e))?;
            match info.session_state() {
                SessionState::RoUser | SessionState::RwUser => Ok(()),
                _ => Err(KeyError::TokenLost(
                    "the session is no longer logged in".into(),
                )),
            }
        })
    }

    pub(super) fn error(&self, e: CkError) -> KeyError {
        token_error(e, self.max_sessions)
    }

    pub(super) fn generation(&self) -> u64 {
        self.module.generation.load(Ordering::Acquire)
    }

    /// Runs `op` on a pooled session; when the session or token was lost
    /// (opening a session or in `op`), recovers and runs it once more.
    pub fn with_session<T>(
        &self,
        op: impl Fn(&Session) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        let seen = self.generation();
        match self.attempt(&op) {
            Err(KeyError::TokenLost(_)) => {
                self.recover(seen)?;
                self.attempt(&op)
            }
            result => result,
        }
    }

    fn attempt<T>(&self, op: &impl Fn(&Session) -> Result<T, KeyError>) -> Result<T, KeyError> {
        let (generation, session) = self.checkout()?;
        let result = op(&session);
        if matches!(result, Err(KeyError::TokenLost(_))) {
            self.discard(generation, session);
        } else {
            self.checkin(generation, session);
        }
        result
    }

    fn checkout(&self) -> Result<(u64, Session), KeyError> {
        let deadline = Instant::now() + self.session_wait;
        let mut pool = lock(&self.pool);
        loop {
            if let Some(session) = pool.idle.pop() {
                return Ok(session);
            }
            if pool.open < self.max_sessions {
                pool.open += 1;
                drop(pool);
                return self.open_session().inspect_err(|_| {
                    lock(&self.pool).open -= 1;
                    self.freed.notify_one();
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(KeyError::TooManySessions(self.max_sessions));
            }
            pool = self
                .freed
                .wait_timeout(pool, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    fn checkin(&self, generation: u64, session: Session) {
        lock(&self.pool).idle.push((generation, session));
        self.freed.notify_one();
    }

    fn discard(&self, generation: u64, session: Session) {
        self.close(generation, session);
        lock(&self.pool).open -= 1;
        self.freed.notify_one();
    }

    /// Closes a session of this module generation; one from before a restart
    /// is forgotten instead: its handle may have been given to a new session.
    fn close(&self, generation: u64, session: Session) {
        if generation == self.generation() {
            drop(session);
        } else {
            std::mem::forget(session);
        }
    }

    /// Opens a read-write session and logs the user in unless the token already
    /// has (the login is shared by every session of the process). The slot is
    /// found again after a module restart.
    fn open_session(&self) -> Result<(u64, Session), KeyError> {
        let generation = self.generation();
        let slot = {
            let mut slot = lock(&self.slot);
            if slot.0 != generation {
                *slot = (
                    generation,
                    find_slot(&self.module.context, &self.uri)
                        .map_err(|e| KeyError::TokenLost(e.to_string()))?,
                );
            }
            slot.1
        };
        let session = self
            .module
            .context
            .open_rw_session(slot)
            .map_err(|e| self.error(e))?;
        let state = session
            .get_session_info()
            .map_err(|e| self.error(e))?
            .session_state();
        if matches!(state, SessionState::RoPublic | SessionState::RwPublic) {
            match session.login(UserType::User, Some(&self.pin)) {
                Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                Err(e) => return Err(self.error(e)),
            }
        }
        Ok((generation, session))
    }

    /// Drops the idle sessions and, unless another caller did since `seen`,
    /// restarts the module (finalise, initialise: a token that was removed and
    /// put back is found again) and counts a new generation.
    fn recover(&self, seen: u64) -> Result<(), KeyError> {
        let stale = {
            let mut pool = lock(&self.pool);
            let stale = std::mem::take(&mut pool.idle);
            pool.open -= stale.len();
            stale
        };
        for (generation, session) in stale {
            self.close(generation, session);
        }
        self.freed.notify_all();
        let _restarting = lock(&self.module.restarting);
        if self.generation() != seen {
            return Ok(());
        }
        // Already finalised by someone else is fine: initialise again.
        let _ = self.module.context.clone().finalize();
        self.module.generation.fetch_add(1, Ordering::AcqRel);
        initialize(&self.module.context).map_err(|e| KeyError::TokenLost(e.to_string()))?;
        Ok(())
    }
}
