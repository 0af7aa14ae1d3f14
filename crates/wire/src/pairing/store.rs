//! The paired-device store: `pairing.json` in the config directory (mode 0600, changed under a
//! file lock), the current pairing secret, and the check of a client's proof against a paired
//! device's key or the secret (which pairs the device on success).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{hex_decode, hex_encode, verify_proof, PairingError, PairingSecret};
use crate::protocol::{DeviceId, Proof, RejectCode};
use crate::secure::{Nonces, SecretKey};

/// A device that completed a handshake once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PairedDevice {
    /// 32 hex digits.
    pub id: String,
    pub name: String,
    /// The device key derived at pairing time (64 hex digits).
    pub key: String,
    pub paired_at: u64,
    pub last_seen: u64,
}

/// A secret that pairs new devices, and when it stops (Unix seconds; `None` = until replaced).
pub type ActiveSecret = (PairingSecret, Option<u64>);

/// The persisted pairing state: `pairing.json` in the config directory, mode 0600.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PairingState {
    /// Current pairing secret (hex), if any.
    pub secret: Option<String>,
    pub secret_created: u64,
    /// Unix seconds; 0 = never expires.
    pub secret_expires: u64,
    /// `pair --revoke` turned pairing off: nothing mints a new secret until `pair --new` (or
    /// the studio's New code button) asks for one.
    pub revoked: bool,
    pub devices: Vec<PairedDevice>,
}

/// What a ClientHello claims, with the connection's nonces: checked by
/// [`PairingStore::authenticate`].
pub struct HelloClaim<'a> {
    pub nonces: Nonces,
    pub version: u16,
    pub device_id: &'a DeviceId,
    pub device_name: &'a str,
    pub proof: &'a Proof,
}

/// Who a successful handshake was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub device_id: String,
    pub device_name: String,
    /// The key the proof was checked against: the session's keys derive from it.
    pub device_key: SecretKey,
    /// True when this handshake paired a new device.
    pub newly_paired: bool,
}

/// The pairing state on disk. Every operation re-reads the file, so `stronglive pair` run in
/// another terminal takes effect on a running server at its next handshake.
#[derive(Debug, Clone)]
pub struct PairingStore {
    path: PathBuf,
}

/// `$STRONGLIVE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/stronglive`, else `~/.config/stronglive`.
pub fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STRONGLIVE_CONFIG_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("stronglive");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".config/stronglive")
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl PairingStore {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join("pairing.json"),
        }
    }

    pub fn default_location() -> Self {
        Self::in_dir(&config_dir())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn store_error(&self, reason: String) -> PairingError {
        PairingError::Store {
            path: self.path.clone(),
            reason,
        }
    }

    pub fn load(&self) -> Result<PairingState, PairingError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| self.store_error(format!("not a valid pairing file ({e})"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PairingState::default()),
            Err(e) => Err(self.store_error(format!("cannot read: {e}"))),
        }
    }

    /// Written to a temporary sibling (mode 0600: it holds secrets) and renamed into place.
    pub fn save(&self, state: &PairingState) -> Result<(), PairingError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| self.store_error(format!("cannot create directory: {e}")))?;
        }
        let json = serde_json::to_vec_pretty(state).map_err(|e| self.store_error(e.to_string()))?;
        crate::atomic_file::write_atomically_with_mode(&self.path, &json, 0o600)
            .map_err(|e| self.store_error(format!("cannot write: {e}")))
    }

    /// Load, change and save the state under an exclusive lock on `pairing.json.lock`, so that
    /// handshakes, `pair --new/--remove/--revoke` and the studio (other threads or processes)
    /// never overwrite each other's changes. `change` returns whether to save.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut PairingState) -> Result<(T, bool), PairingError>,
    ) -> Result<T, PairingError> {
        let _lock = self.lock()?;
        let mut state = self.load()?;
        let (value, changed) = change(&mut state)?;
        if changed {
            self.save(&state)?;
        }
        Ok(value)
    }

    /// The store's advisory lock (flock), released when the returned file is dropped.
    fn lock(&self) -> Result<std::fs::File, PairingError> {
        use std::os::unix::io::AsRawFd;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| self.store_error(format!("cannot create directory: {e}")))?;
        }
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.store_error(format!("cannot open its lock file: {e}")))?;
        // SAFETY: flock on a descriptor this function owns; it blocks until the lock is free.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(self.store_error(format!("cannot lock it: {e}")));
        }
        Ok(file)
    }

    /// Replace the pairing secret with a fresh one valid for `ttl_s` seconds (0 = no expiry).
    /// Already paired devices are unaffected.
    pub fn new_secret(&self, ttl_s: u64) -> Result<ActiveSecret, PairingError> {
        self.update(|state| {
            let secret = PairingSecret::generate()?;
            let now = unix_now();
            state.secret = Some(secret.to_hex());
            state.secret_created = now;
            state.secret_expires = if ttl_s == 0 { 0 } else { now + ttl_s };
            state.revoked = false;
            Ok(((secret, (ttl_s != 0).then_some(state.secret_expires)), true))
        })
    }

    /// The current secret if it still pairs new devices, else a fresh one (`ttl_s`); `None`
    /// after `pair --revoke` (pairing stays off until a new secret is asked for explicitly).
    pub fn current_or_new_secret(&self, ttl_s: u64) -> Result<Option<ActiveSecret>, PairingError> {
        let state = self.load()?;
        if state.revoked {
            return Ok(None);
        }
        if let Some(secret) = active_secret(&state, unix_now()) {
            let expires = (state.secret_expires != 0).then_some(state.secret_expires);
            return Ok(Some((secret, expires)));
        }
        self.new_secret(ttl_s).map(Some)
    }

    /// Stop the current secret from pairing anyone new, until a new secret is asked for.
    pub fn revoke_secret(&self) -> Result<(), PairingError> {
        self.update(|state| {
            state.secret = None;
            state.revoked = true;
            Ok(((), true))
        })
    }

    /// Remove a paired device (by id, id prefix of at least 8 digits, or exact name).
    pub fn remove_device(&self, which: &str) -> Result<PairedDevice, PairingError> {
        self.update(|state| {
            let index = state
                .devices
                .iter()
                .position(|d| d.name == which || (which.len() >= 8 && d.id.starts_with(which)))
                .ok_or_else(|| PairingError::UnknownDevice(which.to_string()))?;
            Ok((state.devices.remove(index), true))
        })
    }

    /// Check a client's proof: a paired device against its stored key, an unknown one against
    /// the key derived from the current, unexpired pairing secret (and then remember it).
    pub fn authenticate(
        &self,
        hello: &HelloClaim,
    ) -> Result<Result<Authenticated, RejectCode>, PairingError> {
        self.update(|state| Ok(Self::check_proof(state, hello)))
    }

    /// `authenticate` on a loaded state; the flag says whether the state changed.
    fn check_proof(
        state: &mut PairingState,
        hello: &HelloClaim,
    ) -> (Result<Authenticated, RejectCode>, bool) {
        let id_hex = hex_encode(hello.device_id);
        let now = unix_now();
        let verify = |key: &[u8; 32]| {
            verify_proof(
                key,
                &hello.nonces,
                hello.version,
                hello.device_id,
                hello.device_name,
                hello.proof,
            )
        };
        let authenticated = |key: [u8; 32], newly_paired: bool| Authenticated {
            device_id: id_hex.clone(),
            device_name: hello.device_name.to_string(),
            device_key: SecretKey(key),
            newly_paired,
        };
        let active = active_secret(state, now);
        if let Some(device) = state.devices.iter_mut().find(|d| d.id == id_hex) {
            let stored: Option<[u8; 32]> = hex_decode(&device.key).and_then(|k| k.try_into().ok());
            let key = match stored.filter(|k| verify(k)) {
                Some(k) => k,
                // A paired device that scanned a newer code proves the new secret: re-pair it.
                None => match active
                    .map(|s| s.device_key(hello.device_id))
                    .filter(|k| verify(k))
                {
                    Some(k) => {
                        device.key = hex_encode(&k);
                        k
                    }
                    None => return (Err(RejectCode::BadProof), false),
                },
            };
            device.last_seen = now;
            device.name = hello.device_name.to_string();
            return (Ok(authenticated(key, false)), true);
        }
        let Some(secret) = state.secret.as_deref().and_then(PairingSecret::from_hex) else {
            return (Err(RejectCode::PairingExpired), false);
        };
        let key = secret.device_key(hello.device_id);
        if !verify(&key) {
            return (Err(RejectCode::BadProof), false);
        }
        if active.is_none() {
            return (Err(RejectCode::PairingExpired), false);
        }
        state.devices.push(PairedDevice {
            id: id_hex.clone(),
            name: hello.device_name.to_string(),
            key: hex_encode(&key),
            paired_at: now,
            last_seen: now,
        });
        (Ok(authenticated(key, true)), true)
    }
}

fn active_secret(state: &PairingState, now: u64) -> Option<PairingSecret> {
    let secret = PairingSecret::from_hex(state.secret.as_deref()?)?;
    (state.secret_expires == 0 || now < state.secret_expires).then_some(secret)
}
