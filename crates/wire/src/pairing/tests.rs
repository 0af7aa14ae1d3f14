//! Pairing's tests: proofs against the golden values, the URI both ways, and the store
//! (expiry, re-pairing, removal, revocation, concurrent updates, file mode).

use super::*;
use crate::protocol::tests::golden;
use crate::protocol::{DeviceId, Proof, RejectCode};
use crate::secure::Nonces;

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
fn claim<'a>(nonces: Nonces, id: &'a DeviceId, name: &'a str, proof: &'a Proof) -> HelloClaim<'a> {
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
    let newcomer_proof = compute_proof(&secret.device_key(&newcomer), &nonce, 2, &newcomer, "tab");
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
