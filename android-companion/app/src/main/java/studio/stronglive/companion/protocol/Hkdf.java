package studio.stronglive.companion.protocol;

import java.io.ByteArrayOutputStream;

/**
 * HKDF-SHA256 (RFC 5869), written out over HmacSHA256 because Android API 23 has no HKDF in its
 * platform crypto and the app takes no libraries. Checked against Python's `cryptography`
 * through the golden key_c2s/key_s2c values.
 */
final class Hkdf {
    private static final int HASH_BYTES = 32;

    private Hkdf() {}

    /** Extract then expand: `length` bytes of key material from `ikm`. */
    static byte[] derive(byte[] salt, byte[] ikm, byte[] info, int length) {
        return expand(extract(salt, ikm), info, length);
    }

    /** PRK = HMAC(salt, ikm); an empty salt stands for HashLen zero bytes (RFC 5869 2.2). */
    static byte[] extract(byte[] salt, byte[] ikm) {
        return Pairing.hmac(salt.length == 0 ? new byte[HASH_BYTES] : salt, ikm);
    }

    /** T(i) = HMAC(PRK, T(i-1) || info || i), concatenated and cut to `length` (RFC 5869 2.3). */
    static byte[] expand(byte[] prk, byte[] info, int length) {
        if (length < 0 || length > 255 * HASH_BYTES) {
            throw new IllegalArgumentException("HKDF-SHA256 output is limited to 8160 bytes, asked for " + length);
        }
        ByteArrayOutputStream okm = new ByteArrayOutputStream();
        byte[] previous = new byte[0];
        for (int i = 1; okm.size() < length; i++) {
            previous = Pairing.hmac(prk, Pairing.concat(previous, info, new byte[] {(byte) i}));
            okm.write(previous, 0, previous.length);
        }
        byte[] all = okm.toByteArray();
        byte[] out = new byte[length];
        System.arraycopy(all, 0, out, 0, length);
        return out;
    }
}
