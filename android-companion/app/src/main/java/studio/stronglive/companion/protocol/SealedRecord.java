package studio.stronglive.companion.protocol;

import java.security.GeneralSecurityException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The layout every message takes after Welcome (docs/protocol.md, "Encryption"):
 * {@code u32 BE length (ciphertext + tag)} then AES-256-GCM of the message without its own
 * length prefix, the 4 length bytes as associated data, iv = 4 zero bytes || u64 BE counter.
 * Shared by {@link Sealer} and {@link Opener}.
 */
final class SealedRecord {
    static final int TAG_BYTES = 16;
    static final int TAG_BITS = TAG_BYTES * 8;
    /** A type byte and the tag: the smallest message there is. */
    static final int MIN_LENGTH = 1 + TAG_BYTES;
    /** The largest message plus the tag. */
    static final int MAX_LENGTH = Message.MAX_MESSAGE_BYTES + TAG_BYTES;

    private SealedRecord() {}

    static SecretKeySpec key(byte[] key) {
        if (key.length != 32) throw new IllegalArgumentException("AES-256 needs a 32-byte key, got " + key.length);
        return new SecretKeySpec(key, "AES");
    }

    /** "AES/GCM/NoPadding" is on every Android since API 10 and in every JRE. */
    static Cipher cipher() {
        try {
            return Cipher.getInstance("AES/GCM/NoPadding");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES/GCM/NoPadding unavailable", e);
        }
    }

    /**
     * Readies `cipher` for the record with this counter. The counter in the iv is what makes a
     * replayed, dropped or reordered record fail: the receiver only ever tries the next one.
     */
    static void init(Cipher cipher, int mode, SecretKeySpec key, long counter) throws GeneralSecurityException {
        byte[] iv = new byte[12];
        for (int i = 0; i < 8; i++) iv[4 + i] = (byte) (counter >>> (56 - 8 * i));
        cipher.init(mode, key, new GCMParameterSpec(TAG_BITS, iv));
    }

    static void writeLength(byte[] into, int length) {
        into[0] = (byte) (length >>> 24);
        into[1] = (byte) (length >>> 16);
        into[2] = (byte) (length >>> 8);
        into[3] = (byte) length;
    }

    static long readLength(byte[] header) {
        return ((header[0] & 0xffL) << 24) | ((header[1] & 0xff) << 16) | ((header[2] & 0xff) << 8) | (header[3] & 0xff);
    }
}
