package studio.stronglive.companion.protocol;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A sender's connection to the desktop: connect (each host of the pairing code in turn),
 * authenticate both ways (the phone's HMAC proof, then the desktop's in Welcome), then send
 * sealed config, access units, patches and stats while a reader thread opens and delivers the
 * server's feedback. Plain Java: used by the app and the JVM tests.
 */
public final class Client implements AutoCloseable {
    /** What the server asks for; called on the reader thread. */
    public interface Feedback {
        void onKeyFrameRequest();
        void onTargetBitrate(long bitsPerSecond);
        void onPatchRequest(int count, int size);
        /** Send pictures no larger than width x height from the next key frame (0 x 0: any). */
        void onTargetStreamSize(int width, int height);
        void onClosed(String reason);
    }

    /** The server refused us (wrong or expired code, version, busy). */
    public static final class RejectedException extends IOException {
        public final int code;
        public RejectedException(int code, String reason) {
            super("the desktop refused the connection: " + reason);
            this.code = code;
        }
    }

    /** The desktop speaks another protocol version; the text says which side to update. */
    public static final class VersionException extends IOException {
        public final int desktopVersion;
        public VersionException(int desktopVersion) {
            super("the desktop speaks protocol version " + desktopVersion + ", this app version " + Message.VERSION + ": "
                    + (desktopVersion < Message.VERSION ? "update StrongLive on the desktop" : "update this app"));
            this.desktopVersion = desktopVersion;
        }
    }

    private static final int CONNECT_TIMEOUT_MS = 3000;
    private static final int HANDSHAKE_TIMEOUT_MS = 5000;

    private final Socket socket;
    private final OutputStream out;
    private final DataInputStream in;
    public final String serverName;
    public final long sessionId;
    private Thread reader;
    /** Serialises writers; close() never waits for it (a stuck writer must not block a stop). */
    private final ReentrantLock sendLock = new ReentrantLock();
    /** Used only under sendLock: records must go out in the order of their counters. */
    private final Sealer sealer;
    /** Used only by the reader thread. */
    private final Opener opener;
    /** When the write in progress started (System.nanoTime), 0 when none is. */
    private volatile long writingSince;
    /** A write that takes longer means the desktop stopped reading (hung or gone): close. */
    private volatile long writeTimeoutNs = 10000000000L;
    private Thread watchdog;

    private static final SecureRandom RANDOM = new SecureRandom();

    private Client(Socket socket, String serverName, long sessionId, DataInputStream in, SessionKeys keys) throws IOException {
        this.socket = socket;
        this.out = socket.getOutputStream();
        this.in = in;
        this.serverName = serverName;
        this.sessionId = sessionId;
        this.sealer = new Sealer(keys.clientToServer);
        this.opener = new Opener(keys.serverToClient, "the desktop");
        startWatchdog();
    }

    /** Connects and authenticates; throws with the reason (unreachable, refused, not StrongLive). */
    public static Client connect(Pairing pairing, byte[] deviceId, String deviceName) throws IOException {
        return connect(pairing, deviceId, deviceName, null);
    }

    /** Puts a socket on a network before it connects (the app: Wi-Fi, when mobile data is the default). */
    public interface SocketBinder {
        void bind(Socket socket) throws IOException;
    }

    /** {@link #connect(Pairing, byte[], String)} with each socket bound by `binder` first (may be null). */
    public static Client connect(Pairing pairing, byte[] deviceId, String deviceName, SocketBinder binder) throws IOException {
        IOException last = null;
        for (String host : pairing.hosts) {
            Socket socket = new Socket();
            try {
                if (binder != null) binder.bind(socket);
                socket.connect(new InetSocketAddress(host, pairing.port), CONNECT_TIMEOUT_MS);
                socket.setTcpNoDelay(true);
                return handshake(socket, pairing, deviceId, deviceName);
            } catch (RejectedException | VersionException e) {
                // The desktop itself answered no: another of its addresses would say the same.
                socket.close();
                throw e;
            } catch (IOException e) {
                socket.close();
                last = new IOException(host + ":" + pairing.port + ": " + e.getMessage(), e);
            }
        }
        throw last != null ? last : new IOException("the pairing code lists no address");
    }

    private static Client handshake(Socket socket, Pairing pairing, byte[] deviceId, String deviceName) throws IOException {
        socket.setSoTimeout(HANDSHAKE_TIMEOUT_MS);
        DataInputStream in = new DataInputStream(socket.getInputStream());
        Message.Incoming hello = readHandshake(in);
        if (hello.type != Message.SERVER_HELLO) throw new IOException("the desktop did not greet (got message " + hello.type + ")");
        if (hello.version != Message.VERSION) throw new VersionException(hello.version);
        byte[] clientNonce = new byte[Message.NONCE_BYTES];
        RANDOM.nextBytes(clientNonce);
        byte[] key = Pairing.deviceKey(pairing.secret, deviceId);
        byte[] proof = Pairing.proof(key, hello.nonce, clientNonce, Message.VERSION, deviceId, deviceName);
        socket.getOutputStream().write(Message.clientHello(deviceId, deviceName, clientNonce, proof));
        Message.Incoming answer = readHandshake(in);
        if (answer.type == Message.REJECT) throw new RejectedException(answer.code, answer.text);
        if (answer.type != Message.WELCOME) throw new IOException("unexpected answer " + answer.type + " to the hello");
        // Before anything else goes out: a desktop without this device's key (a rogue one, or
        // one relaying another's handshake) must never receive video.
        byte[] expected = Pairing.serverProof(key, hello.nonce, clientNonce, answer.value);
        if (!MessageDigest.isEqual(expected, answer.serverProof)) {
            socket.close();
            throw new IOException("the desktop could not prove it holds this device's key (not the paired desktop?)");
        }
        socket.setSoTimeout(0);
        return new Client(socket, hello.text, answer.value, in, SessionKeys.derive(key, hello.nonce, clientNonce));
    }

    /** One unsealed handshake message, within the handshake's size limit and deadline. */
    private static Message.Incoming readHandshake(DataInputStream in) throws IOException {
        try {
            byte[] header = new byte[4];
            in.readFully(header);
            int length = Message.checkLength(header, Message.MAX_HANDSHAKE_BYTES);
            byte[] body = new byte[length];
            in.readFully(body);
            return Message.parse(body);
        } catch (Message.ProtocolException e) {
            throw new IOException(e.getMessage(), e);
        } catch (SocketTimeoutException e) {
            throw new IOException("the desktop did not answer in time", e);
        }
    }

    /** One sealed message from the desktop, opened and parsed (reader thread only). */
    private Message.Incoming readSealed() throws IOException {
        byte[] body = opener.read(in);
        try {
            return Message.parse(body);
        } catch (Message.ProtocolException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** Starts the feedback reader thread. */
    public void listen(final Feedback feedback) {
        reader = new Thread(new Runnable() {
            @Override public void run() {
                String reason = "connection closed";
                boolean failed = false;
                try {
                    while (true) {
                        Message.Incoming m = readSealed();
                        if (m.type == Message.KEY_FRAME_REQUEST) feedback.onKeyFrameRequest();
                        else if (m.type == Message.TARGET_BITRATE) feedback.onTargetBitrate(m.value);
                        else if (m.type == Message.PATCH_REQUEST) feedback.onPatchRequest(m.count, m.size);
                        else if (m.type == Message.TARGET_STREAM_SIZE) feedback.onTargetStreamSize(m.width, m.height);
                        else if (m.type == Message.BYE) { reason = "desktop ended the session: " + m.text; break; }
                        else throw new IOException(String.format("unexpected message type 0x%02x from the desktop after the handshake", m.type));
                    }
                } catch (IOException e) {
                    failed = true;
                    if (e.getMessage() != null) reason = e.getMessage();
                }
                feedback.onClosed(reason);
                // Nothing more can be read after a failed read (a record cut or refused leaves
                // the stream out of step), and one that failed authentication means someone is
                // tampering: stop writing too. After the reason, so it is the one reported.
                if (failed) closeSocket();
            }
        }, "stronglive-feedback");
        reader.setDaemon(true);
        reader.start();
    }

    /** Seals and sends one message built by {@link Message}; safe from any thread. */
    public void send(byte[] message) throws IOException {
        if (message.length - 4 > Message.MAX_MESSAGE_BYTES) {
            throw new IOException("message of " + (message.length - 4) + " bytes exceeds the protocol's "
                    + Message.MAX_MESSAGE_BYTES + "-byte limit");
        }
        sendLock.lock();
        try {
            // Sealed under the lock: the counter must advance in the order the records go out.
            byte[] record = sealer.seal(message);
            writingSince = System.nanoTime();
            out.write(record);
        } finally {
            writingSince = 0;
            sendLock.unlock();
        }
    }

    /** For tests: how long a single write may block before the connection is given up. */
    void setWriteTimeoutMs(long ms) {
        writeTimeoutNs = ms * 1000000L;
    }

    /**
     * Watches the writes: TCP has no write timeout, and a desktop that hangs stops reading, so the
     * app's next write blocks for good. One that blocks longer than the timeout closes the socket
     * (the writer then fails with "connection lost"). Runs until the socket is closed.
     */
    private void startWatchdog() {
        watchdog = new Thread(new Runnable() {
            @Override public void run() {
                while (!socket.isClosed()) {
                    long since = writingSince;
                    if (since != 0 && System.nanoTime() - since > writeTimeoutNs) {
                        closeSocket();
                        return;
                    }
                    try {
                        Thread.sleep(250);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
        }, "stronglive-write-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
    }

    /**
     * Says bye when no other write is in progress, then closes the socket (which also releases
     * a writer stuck on a full socket, and ends the reader thread). Never waits for a writer; it
     * does block, so call it off the UI thread (Android forbids network calls there).
     */
    @Override public void close() {
        if (sendLock.tryLock()) {
            try {
                out.write(sealer.seal(Message.bye("stream stopped")));
                socket.shutdownOutput();
            } catch (IOException ignored) {
                // already gone
            } finally {
                sendLock.unlock();
            }
        }
        closeSocket();
    }

    private void closeSocket() {
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing is all we wanted
        }
    }
}
