package studio.stronglive.companion.protocol;

import java.io.DataInputStream;
import java.io.IOException;
import java.security.GeneralSecurityException;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;

/**
 * Opens one direction's sealed records after Welcome, trying only the counter it expects next
 * (0 first), so a record that was altered, replayed, dropped or reordered fails. After a failure
 * it opens nothing more: a later record that happens to fit (the one a swap moved) must not
 * make the stream usable again.
 */
public final class Opener {
    private final SecretKeySpec key;
    private final Cipher cipher = SealedRecord.cipher();
    /** Who sends these records, for the error text ("the desktop"). */
    private final String peer;
    /** The counter of the next record (unsigned). */
    private long counter;
    private boolean failed;

    public Opener(byte[] key, String peer) {
        this.key = SealedRecord.key(key);
        this.peer = peer;
    }

    /** Reads and opens the next record from `in`; returns the message (type + payload). */
    public byte[] read(DataInputStream in) throws IOException {
        byte[] header = new byte[4];
        in.readFully(header);
        byte[] sealed = new byte[recordLength(header)];
        in.readFully(sealed);
        return open(header, sealed);
    }

    /** The record's length from its 4 length bytes, checked before anything is allocated. */
    public int recordLength(byte[] header) throws IOException {
        long length = SealedRecord.readLength(header);
        if (length < SealedRecord.MIN_LENGTH || length > SealedRecord.MAX_LENGTH) {
            throw new IOException("sealed message " + counter + " from " + peer + " announces " + length
                    + " bytes (must be " + SealedRecord.MIN_LENGTH + ".." + SealedRecord.MAX_LENGTH + ")");
        }
        return (int) length;
    }

    /** Authenticates and decrypts one record (its 4 length bytes and the rest). */
    public byte[] open(byte[] header, byte[] sealed) throws IOException {
        if (failed) throw new IOException("an earlier message from " + peer + " failed authentication; nothing more is read");
        if (recordLength(header) != sealed.length) {
            throw new IOException("sealed message " + counter + " from " + peer + " is " + sealed.length
                    + " bytes, its header says " + SealedRecord.readLength(header));
        }
        try {
            SealedRecord.init(cipher, Cipher.DECRYPT_MODE, key, counter);
            cipher.updateAAD(header, 0, 4);
            byte[] message = cipher.doFinal(sealed);
            counter++;
            return message;
        } catch (GeneralSecurityException e) {
            // AEADBadTagException in practice; whatever it is, the record cannot be trusted.
            failed = true;
            throw new IOException("message " + counter + " from " + peer
                    + " failed authentication (altered, replayed or reordered)", e);
        }
    }
}
