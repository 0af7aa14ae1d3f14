//! The QR code's payload, `stronglive://pair?v=1&name=..&host=..&port=..&secret=..&exp=..`:
//! written, parsed (every refusal says why, never with the secret in it) and redacted for logs.

use std::net::IpAddr;

use super::{PairingError, PairingSecret, PAIR_URI_PREFIX, SECRET_BYTES};

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
