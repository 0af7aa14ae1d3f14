package studio.stronglive.companion.protocol;

import java.io.ByteArrayOutputStream;
import java.io.UnsupportedEncodingException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The pairing URI from the desktop's QR code and the keys derived from its secret
 * (docs/protocol.md, "Handshake"): the secret itself never goes over the network.
 */
public final class Pairing {
    public static final String PREFIX = "stronglive://pair?";

    public final String name;
    public final List<String> hosts;
    public final int port;
    public final byte[] secret;
    /** Unix seconds, 0 when the code does not expire. */
    public final long expires;

    public Pairing(String name, List<String> hosts, int port, byte[] secret, long expires) {
        this.name = name;
        this.hosts = hosts;
        this.port = port;
        this.secret = secret;
        this.expires = expires;
    }

    /** Parses {@code stronglive://pair?v=1&name=..&host=..&port=..&secret=..&exp=..}. */
    public static Pairing parse(String uri) throws IllegalArgumentException {
        if (uri == null || !uri.startsWith(PREFIX)) {
            throw new IllegalArgumentException("not a StrongLive pairing code (expected " + PREFIX + "...)");
        }
        String name = "";
        List<String> hosts = new ArrayList<String>();
        int port = -1;
        byte[] secret = null;
        long expires = 0;
        for (String pair : uri.substring(PREFIX.length()).split("&")) {
            if (pair.isEmpty()) continue;
            int eq = pair.indexOf('=');
            String key = eq < 0 ? pair : pair.substring(0, eq);
            String value = eq < 0 ? "" : decode(pair.substring(eq + 1));
            if (key.equals("v") && !value.equals("1")) {
                throw new IllegalArgumentException("pairing code version " + value + " (this app reads 1)");
            } else if (key.equals("name")) {
                name = value;
            } else if (key.equals("host")) {
                hosts.add(value);
            } else if (key.equals("port")) {
                try {
                    port = Integer.parseInt(value);
                } catch (NumberFormatException e) {
                    port = -1;
                }
                if (port < 1 || port > 65535) throw new IllegalArgumentException("port " + value + " is not in 1..65535");
            } else if (key.equals("secret")) {
                secret = hex(value);
                if (secret == null || secret.length != 32) throw new IllegalArgumentException("secret must be 64 hex digits");
            } else if (key.equals("exp")) {
                expires = Long.parseLong(value);
            }
        }
        if (hosts.isEmpty()) throw new IllegalArgumentException("no host= address");
        if (port < 0) throw new IllegalArgumentException("no port=");
        if (secret == null) throw new IllegalArgumentException("no secret=");
        return new Pairing(name, hosts, port, secret, expires);
    }

    /** HMAC-SHA256(secret, "stronglive-device-key-v1" || deviceId). */
    public static byte[] deviceKey(byte[] secret, byte[] deviceId) {
        return hmac(secret, concat("stronglive-device-key-v1".getBytes(StandardCharsets.US_ASCII), deviceId));
    }

    /**
     * The client's proof: HMAC-SHA256(deviceKey, "stronglive-auth-v2" || serverNonce ||
     * clientNonce || version u16 || deviceId || deviceName). Both nonces are in it, so it is
     * good for this one connection only; the version is in it, so it cannot be downgraded.
     */
    public static byte[] proof(byte[] deviceKey, byte[] serverNonce, byte[] clientNonce, int version, byte[] deviceId,
            String deviceName) {
        byte[] v = {(byte) (version >>> 8), (byte) version};
        return hmac(deviceKey, concat("stronglive-auth-v2".getBytes(StandardCharsets.US_ASCII), serverNonce, clientNonce, v,
                deviceId, deviceName.getBytes(StandardCharsets.UTF_8)));
    }

    /**
     * What the desktop must answer in Welcome: HMAC-SHA256(deviceKey, "stronglive-server-v2" ||
     * serverNonce || clientNonce || sessionId u64). Only a desktop that holds this device's key
     * can compute it, and the client's fresh nonce keeps an old Welcome from being replayed.
     */
    public static byte[] serverProof(byte[] deviceKey, byte[] serverNonce, byte[] clientNonce, long sessionId) {
        byte[] id = new byte[8];
        for (int i = 0; i < 8; i++) id[i] = (byte) (sessionId >>> (56 - 8 * i));
        return hmac(deviceKey, concat("stronglive-server-v2".getBytes(StandardCharsets.US_ASCII), serverNonce, clientNonce, id));
    }

    static byte[] hmac(byte[] key, byte[] data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) out.write(p, 0, p.length);
        return out.toByteArray();
    }

    public static byte[] hex(String text) {
        if (text.length() % 2 != 0) return null;
        byte[] out = new byte[text.length() / 2];
        for (int i = 0; i < out.length; i++) {
            int hi = Character.digit(text.charAt(2 * i), 16);
            int lo = Character.digit(text.charAt(2 * i + 1), 16);
            if (hi < 0 || lo < 0) return null;
            out[i] = (byte) ((hi << 4) | lo);
        }
        return out;
    }

    private static String decode(String s) {
        try {
            return URLDecoder.decode(s, "UTF-8");
        } catch (UnsupportedEncodingException e) {
            return s;
        }
    }
}
