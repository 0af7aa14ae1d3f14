package studio.stronglive.companion.protocol;

import java.security.GeneralSecurityException;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;

/**
 * Seals one direction's messages after Welcome, counter 0 first. Not thread-safe, and the
 * order matters: the receiver expects counters in the order the bytes arrive, so whoever
 * writes must seal and write under one lock ({@link Client#send}).
 */
public final class Sealer {
    private final SecretKeySpec key;
    private final Cipher cipher = SealedRecord.cipher();
    /** The counter of the next record (unsigned). */
    private long counter;

    public Sealer(byte[] key) {
        this.key = SealedRecord.key(key);
    }

    /**
     * `message` is a whole frame as {@link Message} builds it (length prefix, type, payload);
     * returns the record to write: the new length prefix and the ciphertext with its tag.
     */
    public byte[] seal(byte[] message) {
        if (message.length < 5 || SealedRecord.readLength(message) != message.length - 4) {
            throw new IllegalArgumentException("not a framed message (" + message.length + " bytes)");
        }
        int plain = message.length - 4;
        if (plain > Message.MAX_MESSAGE_BYTES) {
            throw new IllegalArgumentException("message of " + plain + " bytes exceeds the " + Message.MAX_MESSAGE_BYTES + "-byte limit");
        }
        // 2^64 records never happen, but an iv must never repeat under one key, so refuse rather than wrap.
        if (counter == -1L) throw new IllegalStateException("the record counter is exhausted; reconnect");
        byte[] record = new byte[4 + plain + SealedRecord.TAG_BYTES];
        SealedRecord.writeLength(record, plain + SealedRecord.TAG_BYTES);
        try {
            SealedRecord.init(cipher, Cipher.ENCRYPT_MODE, key, counter);
            cipher.updateAAD(record, 0, 4);
            int written = cipher.doFinal(message, 4, plain, record, 4);
            if (written != plain + SealedRecord.TAG_BYTES) throw new IllegalStateException("AES-GCM wrote " + written + " bytes");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM sealing failed", e);
        }
        counter++;
        return record;
    }
}
