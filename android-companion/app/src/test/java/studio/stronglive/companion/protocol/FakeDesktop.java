package studio.stronglive.companion.protocol;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Collections;
import java.util.concurrent.Callable;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;

/**
 * The desktop's side of protocol v2 on loopback, with the real crypto, for the tests of
 * {@link Client}: it checks the phone's proof (Reject(1) when wrong), answers with a server
 * proof (a wrong one when told to), then reads and writes sealed records.
 */
final class FakeDesktop implements AutoCloseable {
    static final long SESSION_ID = 42;
    static final String NAME = "Fake desktop";
    static final byte[] DEVICE_ID = new byte[16];

    final byte[] secret = new byte[32];
    private final ServerSocket server;
    private final int version;
    private final boolean provesItself;
    private Socket peer;
    private DataInputStream in;
    private OutputStream out;
    private Sealer sealer;
    private Opener opener;

    /** An honest desktop speaking this app's version. */
    FakeDesktop() throws IOException {
        this(Message.VERSION, true);
    }

    /** `version` goes into ServerHello; `provesItself` false sends a Welcome with a wrong server proof. */
    FakeDesktop(int version, boolean provesItself) throws IOException {
        new SecureRandom().nextBytes(secret);
        this.server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        this.version = version;
        this.provesItself = provesItself;
    }

    /** What the phone would have scanned. */
    Pairing pairing() {
        return pairingWith(secret);
    }

    Pairing pairingWith(byte[] pairingSecret) {
        return new Pairing(NAME, Collections.singletonList(InetAddress.getLoopbackAddress().getHostAddress()),
                server.getLocalPort(), pairingSecret, 0);
    }

    /** Runs `work` on its own thread, so the test thread can be the phone meanwhile. */
    static <T> FutureTask<T> inBackground(Callable<T> work) {
        FutureTask<T> task = new FutureTask<T>(work);
        Thread t = new Thread(task, "fake-desktop");
        t.setDaemon(true);
        t.start();
        return task;
    }

    /** Accepts the phone and runs the handshake on a background thread. */
    FutureTask<Void> acceptInBackground() {
        return inBackground(new Callable<Void>() {
            @Override public Void call() throws IOException {
                accept();
                return null;
            }
        });
    }

    /** A phone connected to this desktop through the real handshake. */
    Client connectPhone() throws Exception {
        FutureTask<Void> handshake = acceptInBackground();
        Client client = Client.connect(pairing(), DEVICE_ID, "JVM test phone");
        handshake.get(5, TimeUnit.SECONDS);
        return client;
    }

    /**
     * Accepts one phone and answers its hello. Returns after ServerHello when the version is not
     * this app's (the phone is expected to hang up), after Reject(1) for a wrong proof.
     */
    void accept() throws IOException {
        peer = server.accept();
        peer.setSoTimeout(5000); // a test that goes wrong fails instead of hanging
        in = new DataInputStream(peer.getInputStream());
        out = peer.getOutputStream();
        byte[] nonce = new byte[Message.NONCE_BYTES];
        new SecureRandom().nextBytes(nonce);
        out.write(new Message.Writer(Message.SERVER_HELLO).raw(Message.MAGIC).u16(version).raw(nonce).str(NAME).bytes());
        if (version != Message.VERSION) return;

        ByteBuffer hello = ByteBuffer.wrap(readPlain());
        assertEquals(Message.CLIENT_HELLO, hello.get());
        byte[] magic = take(hello, 4);
        assertArrayEquals(Message.MAGIC, magic);
        assertEquals(Message.VERSION, hello.getShort());
        byte[] deviceId = take(hello, Message.DEVICE_ID_BYTES);
        String deviceName = new String(take(hello, hello.getShort() & 0xffff), StandardCharsets.UTF_8);
        byte[] clientNonce = take(hello, Message.NONCE_BYTES);
        byte[] proof = take(hello, Message.PROOF_BYTES);
        assertFalse("bytes after the ClientHello", hello.hasRemaining());

        byte[] key = Pairing.deviceKey(secret, deviceId);
        if (!java.util.Arrays.equals(proof, Pairing.proof(key, nonce, clientNonce, Message.VERSION, deviceId, deviceName))) {
            out.write(new Message.Writer(Message.REJECT).u8(1).str("wrong pairing secret").bytes());
            return;
        }
        byte[] serverProof = Pairing.serverProof(key, nonce, clientNonce, SESSION_ID);
        if (!provesItself) serverProof[31] ^= 1;
        out.write(new Message.Writer(Message.WELCOME).u64(SESSION_ID).raw(serverProof).bytes());
        SessionKeys keys = SessionKeys.derive(key, nonce, clientNonce);
        sealer = new Sealer(keys.serverToClient);
        opener = new Opener(keys.clientToServer, "the phone");
    }

    private byte[] readPlain() throws IOException {
        byte[] header = new byte[4];
        in.readFully(header);
        try {
            byte[] body = new byte[Message.checkLength(header, Message.MAX_HANDSHAKE_BYTES)];
            in.readFully(body);
            return body;
        } catch (Message.ProtocolException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    private static byte[] take(ByteBuffer b, int n) {
        byte[] out = new byte[n];
        b.get(out);
        return out;
    }

    /** Opens the phone's next record: the message's type and payload. */
    byte[] read() throws IOException {
        return opener.read(in);
    }

    /** The next raw byte from the phone, -1 once it has closed. */
    int readRaw() throws IOException {
        return in.read();
    }

    /** Seals the next record (advancing the counter) without sending it. */
    byte[] seal(byte[] message) {
        return sealer.seal(message);
    }

    void send(byte[] message) throws IOException {
        sendRaw(seal(message));
    }

    void sendRaw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    /** Closes the connection (the phone reads EOF) and the listener. */
    @Override public void close() throws IOException {
        if (peer != null) peer.close();
        server.close();
    }
}
