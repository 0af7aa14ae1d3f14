//! Pairing: the secret a phone learns from the QR code, the keys derived from it, the
//! `stronglive://pair?...` payload, and the persisted list of paired devices.
//!
//! The QR code carries a pairing secret (256 random bits) that expires. A device never sends it:
//! it derives its own key, `HMAC-SHA256(secret, "stronglive-device-key-v1" || device_id)`, and
//! proves it holds that key on every connection (see `protocol::proof_input`). The first
//! successful handshake stores the derived key with the device, so a paired device keeps
//! working after the secret expires or is replaced; removing the device revokes it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::protocol::{proof_input, server_proof_input, DeviceId, Proof, RejectCode};
use crate::secure::{Nonces, SecretKey};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of a pairing secret (256 bits; the issue asks for at least 128).
pub const SECRET_BYTES: usize = 32;
/// How long a fresh pairing secret is accepted for new devices, unless told otherwise.
pub const DEFAULT_SECRET_TTL_S: u64 = 15 * 60;
/// URI scheme and path of the QR payload.
pub const PAIR_URI_PREFIX: &str = "stronglive://pair?";

#[derive(Debug, thiserror::Error)]
pub enum PairingError {
    #[error("pairing URI {uri:?}: {reason}")]
    BadUri { uri: String, reason: String },
    #[error("{}: {reason}", path.display())]
    Store { path: PathBuf, reason: String },
    #[error("no random numbers from the operating system: {0}")]
    Random(String),
    #[error("no paired device matches {0:?} (see `stronglive pair --list`)")]
    UnknownDevice(String),
}

/// A random secret shown once in the QR code.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingSecret([u8; SECRET_BYTES]);

impl std::fmt::Debug for PairingSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairingSecret(..)")
    }
}

impl PairingSecret {
    pub fn generate() -> Result<Self, PairingError> {
        Ok(Self(random_bytes()?))
    }

    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> Self {
        Self(bytes)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        hex_decode(text)?.try_into().ok().map(Self)
    }

    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// The key a device with `device_id` derives from this secret and uses for its proofs.
    pub fn device_key(&self, device_id: &DeviceId) -> [u8; 32] {
        hmac(&self.0, &[b"stronglive-device-key-v1", &device_id[..]])
    }
}

/// Operating-system randomness (getrandom), for secrets, nonces and device ids.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], PairingError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| PairingError::Random(e.to_string()))?;
    Ok(out)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The proof a client sends in its hello: HMAC-SHA256(device key, proof input).
pub fn compute_proof(
    device_key: &[u8; 32],
    nonces: &Nonces,
    version: u16,
    device_id: &DeviceId,
    device_name: &str,
) -> Proof {
    let input = proof_input(
        &nonces.server,
        &nonces.client,
        version,
        device_id,
        device_name,
    );
    hmac(device_key, &[&input])
}

/// Constant-time check of a client's proof (the `hmac` crate compares in constant time).
pub fn verify_proof(
    device_key: &[u8; 32],
    nonces: &Nonces,
    version: u16,
    device_id: &DeviceId,
    device_name: &str,
    proof: &Proof,
) -> bool {
    let input = proof_input(
        &nonces.server,
        &nonces.client,
        version,
        device_id,
        device_name,
    );
    verify_hmac(device_key, &input, proof)
}

/// The server's proof in Welcome: HMAC-SHA256(device key, server proof input).
pub fn compute_server_proof(device_key: &[u8; 32], nonces: &Nonces, session_id: u64) -> Proof {
    let input = server_proof_input(&nonces.server, &nonces.client, session_id);
    hmac(device_key, &[&input])
}

/// Constant-time check, by the client, that the server holds its device key.
pub fn verify_server_proof(
    device_key: &[u8; 32],
    nonces: &Nonces,
    session_id: u64,
    proof: &Proof,
) -> bool {
    let input = server_proof_input(&nonces.server, &nonces.client, session_id);
    verify_hmac(device_key, &input, proof)
}

fn verify_hmac(key: &[u8; 32], input: &[u8], proof: &Proof) -> bool {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(input);
    mac.verify_slice(proof).is_ok()
}

/// What the QR code says: where the desktop listens and the secret to pair with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingUri {
    pub name: String,
    pub hosts: Vec<IpAddr>,
    pub port: u16,
    pub secret: PairingSecret,
    /// Unix seconds after which the secret no longer pairs new devices (`None`: never).
    pub expires: Option<u64>,
}

impl std::fmt::Display for PairingUri {
    /// `stronglive://pair?v=1&name=Studio&host=192.168.1.20&host=10.0.0.5&port=7878&secret=<64 hex>&exp=<unix s>`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PAIR_URI_PREFIX}v=1&name={}",
            percent_encode(&self.name)
        )?;
        for host in &self.hosts {
            write!(f, "&host={}", percent_encode(&host.to_string()))?;
        }
        write!(f, "&port={}&secret={}", self.port, self.secret.to_hex())?;
        if let Some(exp) = self.expires {
            write!(f, "&exp={exp}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for PairingUri {
    type Err = PairingError;

    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| PairingError::BadUri {
            uri: redact_secret(uri),
            reason,
        };
        let query = uri
            .strip_prefix(PAIR_URI_PREFIX)
            .ok_or_else(|| bad(format!("does not start with {PAIR_URI_PREFIX}")))?;
        let (mut name, mut hosts, mut port, mut secret, mut expires) =
            (String::new(), Vec::new(), None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value).ok_or_else(|| bad(format!("{key}: bad %-escape")))?;
            match key {
                "v" if value != "1" => {
                    return Err(bad(format!("version {value} (this build reads 1)")))
                }
                "name" => name = value,
                "host" => hosts.push(
                    value
                        .parse::<IpAddr>()
                        .map_err(|_| bad(format!("host {value:?} is not an IP address")))?,
                ),
                "port" => {
                    port = Some(
                        value
                            .parse::<u16>()
                            .ok()
                            .filter(|&p| p > 0)
                            .ok_or_else(|| bad(format!("port {value:?} is not in 1..=65535")))?,
                    )
                }
                "secret" => {
                    secret = Some(PairingSecret::from_hex(&value).ok_or_else(|| {
                        bad(format!("secret must be {} hex digits", SECRET_BYTES * 2))
                    })?)
                }
                "exp" => {
                    expires = Some(
                        value
                            .parse::<u64>()
                            .map_err(|_| bad(format!("exp {value:?} is not unix seconds")))?,
                    )
                }
                _ => {} // unknown keys: room for later versions
            }
        }
        if hosts.is_empty() {
            return Err(bad("no host= address".into()));
        }
        Ok(Self {
            name,
            hosts,
            port: port.ok_or_else(|| bad("no port=".into()))?,
            secret: secret.ok_or_else(|| bad("no secret=".into()))?,
            expires,
        })
    }
}

/// The URI with its secret blanked, for error messages and logs.
pub fn redact_secret(uri: &str) -> String {
    match uri.find("secret=") {
        Some(i) => {
            let rest = &uri[i + 7..];
            let end = rest.find('&').unwrap_or(rest.len());
            format!("{}secret=<redacted>{}", &uri[..i], &rest[end..])
        }
        None => uri.to_string(),
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// "StrongLive Studio on HOSTNAME": what a phone shows for this desktop unless told otherwise.
pub fn default_server_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        "StrongLive Studio".into()
    } else {
        format!("StrongLive Studio on {host}")
    }
}

/// Non-loopback addresses of this machine's network interfaces, IPv4 first: what the phone
/// can reach on the LAN. IPv6 link-local addresses are left out (they need a zone id).
pub fn lan_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    // SAFETY: getifaddrs fills a linked list we only read and then free with freeifaddrs.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut list) != 0 {
            return out;
        }
        let mut cursor = list;
        while !cursor.is_null() {
            let entry = &*cursor;
            cursor = entry.ifa_next;
            if entry.ifa_addr.is_null() || entry.ifa_flags & (libc::IFF_UP as u32) == 0 {
                continue;
            }
            let address = match i32::from((*entry.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(entry.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes())
                }
                libc::AF_INET6 => {
                    let sin6 = &*(entry.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::from(sin6.sin6_addr.s6_addr)
                }
                _ => continue,
            };
            let link_local_v6 =
                matches!(address, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
            if !address.is_loopback() && !link_local_v6 && !out.contains(&address) {
                out.push(address);
            }
        }
        libc::freeifaddrs(list);
    }
    out.sort_by_key(|a| a.is_ipv6());
    out
}

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

/// The addresses a pairing URI should list for a server bound to `bind`: the bound address when
/// it is a specific one, else every LAN address (loopback when the machine has none).
pub fn advertised_hosts(bind: IpAddr) -> Vec<IpAddr> {
    if !bind.is_unspecified() {
        return vec![bind];
    }
    let lan = lan_addresses();
    if lan.is_empty() {
        vec![IpAddr::from([127, 0, 0, 1])]
    } else {
        lan
    }
}

/// The QR code of `text` as terminal text (two rows of modules per line, quiet zone included).
pub fn qr_for_terminal(text: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tests::golden;

    fn fixed() -> (PairingSecret, DeviceId, Nonces) {
        let secret = PairingSecret::from_bytes(golden("secret").try_into().unwrap());
        let id = std::array::from_fn(|i| 0xa0 + i as u8);
        let nonces = Nonces {
            server: std::array::from_fn(|i| i as u8),
            client: golden("client_nonce").try_into().unwrap(),
        };
        (secret, id, nonces)
    }

    fn fresh_nonces() -> Nonces {
        Nonces {
            server: random_bytes().unwrap(),
            client: random_bytes().unwrap(),
        }
    }

    /// A store's verdict on a hello from `id` called `name` with `proof`.
    fn claim<'a>(
        nonces: Nonces,
        id: &'a DeviceId,
        name: &'a str,
        proof: &'a Proof,
    ) -> HelloClaim<'a> {
        HelloClaim {
            nonces,
            version: 2,
            device_id: id,
            device_name: name,
            proof,
        }
    }

    #[test]
    fn device_key_and_proofs_match_the_golden_values() {
        let (secret, id, nonces) = fixed();
        let key = secret.device_key(&id);
        assert_eq!(key.to_vec(), golden("device_key"));
        let proof = compute_proof(&key, &nonces, 2, &id, "Pixel 7");
        assert_eq!(proof.to_vec(), golden("proof"));
        assert!(verify_proof(&key, &nonces, 2, &id, "Pixel 7", &proof));
        // Any change to what the proof covers breaks it: name, either nonce.
        assert!(!verify_proof(&key, &nonces, 2, &id, "Pixel 8", &proof));
        for flip in [0, 1] {
            let mut other = nonces;
            if flip == 0 {
                other.server[0] ^= 1;
            } else {
                other.client[0] ^= 1;
            }
            assert!(!verify_proof(&key, &other, 2, &id, "Pixel 7", &proof));
        }
        let session = 0x0102_0304_0506_0708;
        let server_proof = compute_server_proof(&key, &nonces, session);
        assert_eq!(server_proof.to_vec(), golden("server_proof"));
        assert!(verify_server_proof(&key, &nonces, session, &server_proof));
        assert!(!verify_server_proof(
            &key,
            &nonces,
            session + 1,
            &server_proof
        ));
        let wrong_key = secret.device_key(&[0; 16]);
        assert!(!verify_server_proof(
            &wrong_key,
            &nonces,
            session,
            &server_proof
        ));
    }

    #[test]
    fn pairing_uri_round_trips_and_rejects_bad_ones() {
        let (secret, _, _) = fixed();
        let uri = PairingUri {
            name: "Studio & Co/2".into(),
            hosts: vec!["192.168.1.20".parse().unwrap(), "fd00::5".parse().unwrap()],
            port: 7878,
            secret,
            expires: Some(1_800_000_000),
        };
        let text = uri.to_string();
        assert!(text.starts_with("stronglive://pair?v=1&name=Studio%20%26%20Co%2F2&host=192.168.1.20&host=fd00%3A%3A5&port=7878&secret=4041"), "{text}");
        assert_eq!(text.parse::<PairingUri>().unwrap(), uri);
        for (bad, why) in [
            ("http://pair?port=1", "does not start with"),
            (
                "stronglive://pair?v=1&host=1.2.3.4&port=0&secret=00",
                "port",
            ),
            (
                "stronglive://pair?v=1&host=1.2.3.4&port=7878&secret=abcd",
                "64 hex digits",
            ),
            ("stronglive://pair?v=1&port=7878", "no host"),
            ("stronglive://pair?v=2&host=1.2.3.4", "version 2"),
            (
                "stronglive://pair?v=1&host=phone.local&port=1",
                "not an IP address",
            ),
        ] {
            let err = bad.parse::<PairingUri>().unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(!err.contains("4041"), "secret leaked into: {err}");
        }
        assert!(redact_secret(&text).contains("secret=<redacted>&exp="));
    }

    #[test]
    fn store_pairs_once_then_survives_expiry_and_honours_removal() {
        let dir = tempfile::tempdir().unwrap();
        let store = PairingStore::in_dir(dir.path());
        let (secret, _) = store.new_secret(600).unwrap();
        let id: DeviceId = random_bytes().unwrap();
        let nonce = fresh_nonces();
        let key = secret.device_key(&id);
        let proof = compute_proof(&key, &nonce, 2, &id, "phone");
        let auth = |proof: &Proof| {
            store
                .authenticate(&claim(nonce, &id, "phone", proof))
                .unwrap()
        };

        let first = auth(&proof).unwrap();
        assert!(first.newly_paired);
        assert!(!auth(&proof).unwrap().newly_paired);
        assert_eq!(auth(&[0u8; 32]), Err(RejectCode::BadProof));

        // The secret expires: the paired device still gets in, a new one does not.
        let mut state = store.load().unwrap();
        state.secret_expires = 1;
        store.save(&state).unwrap();
        assert!(auth(&proof).is_ok());
        let newcomer: DeviceId = random_bytes().unwrap();
        let newcomer_proof =
            compute_proof(&secret.device_key(&newcomer), &nonce, 2, &newcomer, "tab");
        assert_eq!(
            store
                .authenticate(&claim(nonce, &newcomer, "tab", &newcomer_proof))
                .unwrap(),
            Err(RejectCode::PairingExpired)
        );

        // A new code re-pairs the known device with a key derived from the new secret.
        let (renewed, _) = store.new_secret(600).unwrap();
        let renewed_proof = compute_proof(&renewed.device_key(&id), &nonce, 2, &id, "phone");
        assert!(!auth(&renewed_proof).unwrap().newly_paired);
        assert_eq!(
            auth(&proof),
            Err(RejectCode::BadProof),
            "the old key is replaced"
        );
        let mut state = store.load().unwrap();
        state.secret_expires = 1;
        store.save(&state).unwrap();

        // Removing the device revokes it (the secret being expired, it cannot re-pair).
        store.remove_device("phone").unwrap();
        assert_eq!(auth(&renewed_proof), Err(RejectCode::PairingExpired));
        assert!(matches!(
            store.remove_device("nobody"),
            Err(PairingError::UnknownDevice(_))
        ));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "pairing.json must not be readable by others"
        );
    }

    /// Many devices pairing at once while the device list is also being edited: every pairing
    /// is kept (no read-modify-write overwrites another) and the file stays valid JSON.
    #[test]
    fn concurrent_pairings_and_removals_lose_no_update() {
        let dir = tempfile::tempdir().unwrap();
        let store = PairingStore::in_dir(dir.path());
        let (secret, _) = store.new_secret(600).unwrap();
        let pair = |name: String| {
            let id: DeviceId = random_bytes().unwrap();
            let nonce = fresh_nonces();
            let proof = compute_proof(&secret.device_key(&id), &nonce, 2, &id, &name);
            store
                .authenticate(&claim(nonce, &id, &name, &proof))
                .unwrap()
        };
        for name in ["doomed-0", "doomed-1"] {
            assert!(pair(name.into()).is_ok());
        }
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let pair = &pair;
                scope.spawn(move || {
                    for i in 0..5 {
                        assert!(pair(format!("phone-{thread}-{i}")).is_ok());
                    }
                });
            }
            scope.spawn(|| {
                for name in ["doomed-0", "doomed-1"] {
                    store.remove_device(name).unwrap();
                }
            });
        });
        let state = store.load().unwrap();
        let mut names: Vec<&str> = state.devices.iter().map(|d| d.name.as_str()).collect();
        names.sort();
        assert_eq!(names.len(), 40, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("phone-")), "{names:?}");
    }

    /// `pair --revoke` stays in force for later `serve`/studio starts (which used to mint a
    /// fresh secret), until a new secret is asked for explicitly.
    #[test]
    fn a_revoked_secret_stays_revoked_until_a_new_one_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let store = PairingStore::in_dir(dir.path());
        let (secret, _) = store.current_or_new_secret(600).unwrap().unwrap();
        store.revoke_secret().unwrap();
        let reopened = PairingStore::in_dir(dir.path());
        assert!(reopened.current_or_new_secret(600).unwrap().is_none());
        assert!(reopened.load().unwrap().secret.is_none());
        let id: DeviceId = random_bytes().unwrap();
        let nonce = fresh_nonces();
        let proof = compute_proof(&secret.device_key(&id), &nonce, 2, &id, "phone");
        let refused = reopened
            .authenticate(&claim(nonce, &id, "phone", &proof))
            .unwrap();
        assert_eq!(refused, Err(RejectCode::PairingExpired));

        let (fresh, _) = reopened.new_secret(600).unwrap();
        assert!(fresh != secret);
        let (current, _) = reopened.current_or_new_secret(600).unwrap().unwrap();
        assert!(current == fresh);
    }
}
