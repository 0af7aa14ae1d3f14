package studio.stronglive.companion.protocol;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * StrongLive wire protocol v2 (docs/protocol.md): one message = u32 BE length + type byte +
 * payload, big-endian integers, strings as u16 length + UTF-8. The handshake travels like that;
 * after Welcome the same bytes travel sealed ({@link Sealer}, {@link Opener}). Plain Java (no
 * android.*), so the same code runs in the app and in the JVM tests, which check it against
 * docs/protocol-golden.txt.
 */
public final class Message {
    public static final int VERSION = 2;
    public static final byte[] MAGIC = {'S', 'L', 'I', 'V'};
    public static final int MAX_MESSAGE_BYTES = 4 << 20;
    /** Limit for the unauthenticated handshake messages (ServerHello, Welcome, Reject). */
    public static final int MAX_HANDSHAKE_BYTES = 1024;
    public static final int NONCE_BYTES = 32;
    public static final int DEVICE_ID_BYTES = 16;
    public static final int PROOF_BYTES = 32;

    public static final int SERVER_HELLO = 0x01;
    public static final int CLIENT_HELLO = 0x02;
    public static final int WELCOME = 0x03;
    public static final int REJECT = 0x04;
    public static final int STREAM_CONFIG = 0x10;
    public static final int VIDEO_UNIT = 0x11;
    public static final int HR_PATCH = 0x12;
    public static final int TARGET_BITRATE = 0x20;
    public static final int KEY_FRAME_REQUEST = 0x21;
    public static final int PATCH_REQUEST = 0x22;
    public static final int TARGET_STREAM_SIZE = 0x23;
    public static final int STATS = 0x30;
    public static final int BYE = 0x7f;

    /** Codec 1 = H.264; patch format 1 = PNG, 2 = JPEG. */
    public static final int CODEC_H264 = 1;
    public static final int PATCH_PNG = 1;
    public static final int PATCH_JPEG = 2;

    private Message() {}

    /** Builds one frame; {@link #bytes()} fills in the length. */
    public static final class Writer {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        public Writer(int type) {
            out.write(0); out.write(0); out.write(0); out.write(0);
            out.write(type);
        }
        public Writer u8(int v) { out.write(v & 0xff); return this; }
        public Writer u16(int v) { out.write((v >>> 8) & 0xff); out.write(v & 0xff); return this; }
        public Writer u32(long v) { u16((int) (v >>> 16)); return u16((int) v); }
        public Writer u64(long v) { u32(v >>> 32); return u32(v & 0xffffffffL); }
        public Writer raw(byte[] b) { out.write(b, 0, b.length); return this; }
        public Writer str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            if (b.length > 0xffff) b = Arrays.copyOf(b, 0xffff);
            return u16(b.length).raw(b);
        }
        public byte[] bytes() {
            byte[] b = out.toByteArray();
            int length = b.length - 4;
            b[0] = (byte) (length >>> 24); b[1] = (byte) (length >>> 16);
            b[2] = (byte) (length >>> 8); b[3] = (byte) length;
            return b;
        }
    }

    public static byte[] clientHello(byte[] deviceId, String deviceName, byte[] clientNonce, byte[] proof) {
        return new Writer(CLIENT_HELLO).raw(MAGIC).u16(VERSION).raw(deviceId).str(deviceName).raw(clientNonce).raw(proof)
                .bytes();
    }

    public static byte[] streamConfig(int width, int height, long fpsNum, long fpsDen, long bitrate, byte[] parameterSets) {
        return new Writer(STREAM_CONFIG).u8(CODEC_H264).u16(width).u16(height).u32(fpsNum).u32(fpsDen)
                .u32(bitrate).u32(parameterSets.length).raw(parameterSets).bytes();
    }

    public static byte[] videoUnit(long ptsUs, boolean key, byte[] annexB) {
        return new Writer(VIDEO_UNIT).u64(ptsUs).u8(key ? 1 : 0).raw(annexB).bytes();
    }

    public static byte[] hrPatch(long framePtsUs, int x, int y, int w, int h, int format, byte[] data) {
        return new Writer(HR_PATCH).u64(framePtsUs).u16(x).u16(y).u16(w).u16(h).u8(format).raw(data).bytes();
    }

    public static byte[] stats(long framesSent, long bytesSent, long framesDropped, long encoderFpsMilli) {
        return new Writer(STATS).u64(framesSent).u64(bytesSent).u32(framesDropped).u32(encoderFpsMilli).bytes();
    }

    public static byte[] bye(String reason) {
        return new Writer(BYE).str(reason).bytes();
    }

    /** A parsed server-to-client message (the ones a sender must understand). */
    public static final class Incoming {
        public final int type;
        /** ServerHello: the protocol version and the server's nonce. */
        public int version;
        public byte[] nonce;
        /** ServerHello: server name; Reject: reason; Bye: reason. */
        public String text = "";
        /** Welcome: session id; TargetBitrate: bit/s. */
        public long value;
        /** Welcome: the server's proof that it holds the device key (see Pairing.serverProof). */
        public byte[] serverProof;
        public int code;
        public int count;
        public int size;
        /** TargetStreamSize: the largest picture the desktop wants (0 x 0: no limit). */
        public int width;
        public int height;

        Incoming(int type) { this.type = type; }
    }

    /** Thrown for anything that is not a valid message; the text says what was wrong. */
    public static final class ProtocolException extends Exception {
        public ProtocolException(String message) { super(message); }
    }

    /** Checks the announced length against the limit before anything is allocated. */
    public static int checkLength(byte[] header, int limit) throws ProtocolException {
        long length = ByteBuffer.wrap(header).getInt() & 0xffffffffL;
        if (length == 0) throw new ProtocolException("empty message (length 0, no type byte)");
        if (length > limit) {
            throw new ProtocolException("message of " + length + " bytes exceeds the " + limit + "-byte limit");
        }
        return (int) length;
    }

    /** Parses a body (type byte + payload) sent by the server. */
    public static Incoming parse(byte[] body) throws ProtocolException {
        if (body.length == 0) throw new ProtocolException("empty message");
        ByteBuffer b = ByteBuffer.wrap(body);
        int type = b.get() & 0xff;
        Incoming m = new Incoming(type);
        try {
            switch (type) {
                case SERVER_HELLO: {
                    byte[] magic = new byte[4];
                    b.get(magic);
                    if (!Arrays.equals(magic, MAGIC)) throw new ProtocolException("not a StrongLive server (bad magic)");
                    m.version = b.getShort() & 0xffff;
                    m.nonce = new byte[NONCE_BYTES];
                    b.get(m.nonce);
                    m.text = string(b);
                    break;
                }
                case WELCOME:
                    m.value = b.getLong();
                    m.serverProof = new byte[PROOF_BYTES];
                    b.get(m.serverProof);
                    break;
                case REJECT: m.code = b.get() & 0xff; m.text = string(b); break;
                case TARGET_BITRATE: m.value = b.getInt() & 0xffffffffL; break;
                case KEY_FRAME_REQUEST: break;
                case PATCH_REQUEST: m.count = b.getShort() & 0xffff; m.size = b.getShort() & 0xffff; break;
                case TARGET_STREAM_SIZE: {
                    m.width = b.getShort() & 0xffff;
                    m.height = b.getShort() & 0xffff;
                    boolean reset = m.width == 0 && m.height == 0;
                    if (!reset && (m.width == 0 || m.height == 0 || m.width % 2 != 0 || m.height % 2 != 0)) {
                        throw new ProtocolException("TargetStreamSize " + m.width + "x" + m.height + ": sides must be even (or both 0)");
                    }
                    break;
                }
                case BYE: m.text = string(b); break;
                default: throw new ProtocolException(String.format("unexpected message type 0x%02x from the server", type));
            }
        } catch (java.nio.BufferUnderflowException e) {
            throw new ProtocolException(String.format("message 0x%02x is cut short (%d bytes)", type, body.length));
        }
        if (b.hasRemaining()) {
            throw new ProtocolException(String.format("message 0x%02x has %d unexpected bytes after the payload", type, b.remaining()));
        }
        return m;
    }

    private static String string(ByteBuffer b) {
        int n = b.getShort() & 0xffff;
        byte[] s = new byte[n];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }
}
