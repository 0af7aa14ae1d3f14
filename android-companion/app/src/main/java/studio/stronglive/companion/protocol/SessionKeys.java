package studio.stronglive.companion.protocol;

import java.nio.charset.StandardCharsets;

/**
 * The two AES-256-GCM keys of one connection (docs/protocol.md, "Encryption"): one per
 * direction, so a record can never be reflected back to its sender and still authenticate.
 * Both nonces go into the salt, so every connection gets fresh keys even for the same device.
 */
public final class SessionKeys {
    private static final byte[] CLIENT_TO_SERVER = "stronglive-v2 client to server".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] SERVER_TO_CLIENT = "stronglive-v2 server to client".getBytes(StandardCharsets.US_ASCII);
    private static final int KEY_BYTES = 32;

    /** Seals what the phone sends. */
    public final byte[] clientToServer;
    /** Opens what the desktop sends. */
    public final byte[] serverToClient;

    private SessionKeys(byte[] clientToServer, byte[] serverToClient) {
        this.clientToServer = clientToServer;
        this.serverToClient = serverToClient;
    }

    /** HKDF-SHA256(ikm = deviceKey, salt = serverNonce || clientNonce, info = direction label). */
    public static SessionKeys derive(byte[] deviceKey, byte[] serverNonce, byte[] clientNonce) {
        byte[] salt = Pairing.concat(serverNonce, clientNonce);
        return new SessionKeys(Hkdf.derive(salt, deviceKey, CLIENT_TO_SERVER, KEY_BYTES),
                Hkdf.derive(salt, deviceKey, SERVER_TO_CLIENT, KEY_BYTES));
    }
}
