//! What this desktop tells a phone about itself: its display name, the LAN addresses it can
//! be reached on, and the pairing QR code drawn in a terminal.

use std::net::IpAddr;

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
