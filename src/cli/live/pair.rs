//! `stronglive pair`: the pairing code (QR and URI) phones scan, and the paired devices
//! (list, remove, revoke the secret).

use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use stronglive_engine::live::pairing::{
    advertised_hosts, default_server_name, qr_for_terminal, redact_secret, PairingStore,
    PairingUri, DEFAULT_SECRET_TTL_S,
};
use stronglive_engine::live::server::DEFAULT_PORT;

#[derive(Args)]
pub struct PairArgs {
    /// Port the QR code points at (the port `stronglive serve` listens on).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address to advertise instead of every LAN address of this machine.
    #[arg(long)]
    host: Option<IpAddr>,
    /// Name the phone shows for this desktop.
    #[arg(long)]
    name: Option<String>,
    /// Replace the pairing secret (the old QR code stops pairing new devices).
    #[arg(long)]
    new: bool,
    /// Minutes a new secret pairs devices for (0 = until replaced).
    #[arg(long, default_value_t = DEFAULT_SECRET_TTL_S / 60)]
    ttl_min: u64,
    /// List paired devices.
    #[arg(long, conflicts_with_all = ["new", "remove", "revoke"])]
    list: bool,
    /// Remove a paired device (name, or id prefix of 8+ hex digits).
    #[arg(long, value_name = "DEVICE")]
    remove: Option<String>,
    /// Stop the current secret from pairing anyone (paired devices keep working).
    #[arg(long)]
    revoke: bool,
    /// Print the URI only, no QR code.
    #[arg(long)]
    no_qr: bool,
}

pub fn pair(args: &PairArgs) -> Result<ExitCode> {
    let store = PairingStore::default_location();
    if args.list {
        let state = store.load()?;
        if state.devices.is_empty() {
            println!("no paired devices ({})", store.path().display());
        }
        for d in &state.devices {
            println!(
                "{}  {:<24} paired {}  last seen {}",
                &d.id[..12],
                d.name,
                d.paired_at,
                d.last_seen
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(which) = &args.remove {
        let removed = store.remove_device(which)?;
        println!(
            "removed {} ({}): it must scan a new code to connect again",
            removed.name, removed.id
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.revoke {
        store.revoke_secret()?;
        println!("pairing secret revoked; paired devices are unaffected");
        return Ok(ExitCode::SUCCESS);
    }
    let ttl = args.ttl_min * 60;
    let (secret, expires) = if args.new {
        store.new_secret(ttl)?
    } else {
        store.current_or_new_secret(ttl)?.ok_or_else(|| {
            anyhow::anyhow!(
                "pairing was revoked (stronglive pair --revoke): new devices cannot pair until \
                 `stronglive pair --new` makes a new code"
            )
        })?
    };
    let uri = PairingUri {
        name: args.name.clone().unwrap_or_else(default_server_name),
        hosts: advertised_hosts(args.host.unwrap_or(IpAddr::from([0, 0, 0, 0]))),
        port: args.port,
        secret,
        expires,
    };
    print_pairing(&uri, !args.no_qr, true);
    Ok(ExitCode::SUCCESS)
}

/// The pairing code as a QR code and a URI. `with_secret` false prints the URI with its
/// secret redacted: `serve`'s output usually ends up in logs, which must not pair phones.
pub(super) fn print_pairing(uri: &PairingUri, qr: bool, with_secret: bool) {
    if qr {
        match qr_for_terminal(&uri.to_string()) {
            Ok(code) => println!("{code}"),
            Err(e) => eprintln!("warning: no QR code: {e}"),
        }
    }
    if with_secret {
        println!("pair: {uri}");
    } else {
        println!(
            "pair: {} (secret kept out of this output: `stronglive pair` shows the code)",
            redact_secret(&uri.to_string())
        );
    }
    match uri.expires {
        Some(t) => println!(
            "new devices can pair for {} more minutes (stronglive pair --new for a fresh code)",
            t.saturating_sub(stronglive_engine::live::pairing::unix_now())
                .div_ceil(60)
        ),
        None => println!("this code pairs new devices until replaced (stronglive pair --new)"),
    }
}
