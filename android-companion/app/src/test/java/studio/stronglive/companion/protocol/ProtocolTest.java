package studio.stronglive.companion.protocol;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.BeforeClass;
import org.junit.Test;

/** The app's protocol code against docs/protocol-golden.txt, the same bytes the Rust tests use. */
public class ProtocolTest {
    private static final Map<String, byte[]> GOLDEN = new HashMap<String, byte[]>();

    @BeforeClass
    public static void readGolden() throws IOException {
        String path = System.getProperty("golden", "../docs/protocol-golden.txt");
        for (String line : Files.readAllLines(Paths.get(path), StandardCharsets.UTF_8)) {
            if (line.startsWith("#") || line.trim().isEmpty()) continue;
            String[] parts = line.trim().split(" ");
            GOLDEN.put(parts[0], Pairing.hex(parts[1]));
        }
    }

    private static byte[] golden(String name) {
        byte[] b = GOLDEN.get(name);
        if (b == null) fail(name + " missing from protocol-golden.txt");
        return b;
    }

    private static byte[] range(int from, int count) {
        byte[] b = new byte[count];
        for (int i = 0; i < count; i++) b[i] = (byte) (from + i);
        return b;
    }

    private static Message.Incoming parseFrame(byte[] frame) throws Message.ProtocolException {
        int length = Message.checkLength(Arrays.copyOf(frame, 4), Message.MAX_MESSAGE_BYTES);
        assertEquals(frame.length - 4, length);
        return Message.parse(Arrays.copyOfRange(frame, 4, frame.length));
    }

    private static final long SESSION_ID = 0x0102030405060708L;

    private static byte[] serverNonce() {
        return range(0, 32);
    }

    private static byte[] deviceId() {
        return range(0xa0, 16);
    }

    /** The message of a golden frame without its length prefix: what a sealed record carries. */
    private static byte[] body(String name) {
        byte[] frame = golden(name);
        return Arrays.copyOfRange(frame, 4, frame.length);
    }

    @Test
    public void deviceKeyAndBothProofsMatchTheGoldenValues() {
        byte[] key = Pairing.deviceKey(golden("secret"), deviceId());
        assertArrayEquals(golden("device_key"), key);
        assertArrayEquals(golden("proof"),
                Pairing.proof(key, serverNonce(), golden("client_nonce"), Message.VERSION, deviceId(), "Pixel 7"));
        assertArrayEquals(golden("server_proof"), Pairing.serverProof(key, serverNonce(), golden("client_nonce"), SESSION_ID));
    }

    @Test
    public void directionKeysMatchTheGoldenValues() {
        SessionKeys keys = SessionKeys.derive(golden("device_key"), serverNonce(), golden("client_nonce"));
        assertArrayEquals(golden("key_c2s"), keys.clientToServer);
        assertArrayEquals(golden("key_s2c"), keys.serverToClient);
    }

    /** RFC 5869 appendix A.1, so HKDF is right on its own, not only for our inputs. */
    @Test
    public void hkdfMatchesTheRfcTestVector() {
        byte[] ikm = new byte[22];
        Arrays.fill(ikm, (byte) 0x0b);
        byte[] okm = Hkdf.derive(range(0, 13), ikm, range(0xf0, 10), 42);
        assertArrayEquals(Pairing.hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"), okm);
    }

    @Test
    public void clientMessagesEncodeToTheGoldenBytes() {
        assertArrayEquals(golden("ClientHello"), Message.clientHello(deviceId(), "Pixel 7", golden("client_nonce"), golden("proof")));
        byte[] sets = {0, 0, 0, 1, 0x67, 0x42, (byte) 0xc0, 0x1e, 0, 0, 0, 1, 0x68, (byte) 0xce, 0x3c, (byte) 0x80};
        assertArrayEquals(golden("StreamConfig"), Message.streamConfig(960, 540, 30000, 1001, 2000000, sets));
        byte[] idr = {0, 0, 0, 1, 0x65, (byte) 0x88, (byte) 0x84, 0x00, 0x33};
        assertArrayEquals(golden("VideoUnit"), Message.videoUnit(33366, true, idr));
        byte[] png = {(byte) 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a};
        assertArrayEquals(golden("HrPatch"), Message.hrPatch(33366, 128, 64, 48, 48, Message.PATCH_PNG, png));
        assertArrayEquals(golden("Stats"), Message.stats(300, 1234567, 2, 29970));
        assertArrayEquals(golden("Bye"), Message.bye("end of source"));
    }

    @Test
    public void serverMessagesParseFromTheGoldenBytes() throws Exception {
        Message.Incoming hello = parseFrame(golden("ServerHello"));
        assertEquals(Message.SERVER_HELLO, hello.type);
        assertEquals(2, hello.version);
        assertArrayEquals(serverNonce(), hello.nonce);
        assertEquals("Studio", hello.text);
        Message.Incoming welcome = parseFrame(golden("Welcome"));
        assertEquals(SESSION_ID, welcome.value);
        assertArrayEquals(golden("server_proof"), welcome.serverProof);
        Message.Incoming reject = parseFrame(golden("Reject"));
        assertEquals(1, reject.code);
        assertEquals("wrong pairing secret", reject.text);
        assertEquals(1500000L, parseFrame(golden("TargetBitrate")).value);
        assertEquals(Message.KEY_FRAME_REQUEST, parseFrame(golden("KeyFrameRequest")).type);
        Message.Incoming size = parseFrame(golden("TargetStreamSize"));
        assertEquals(Message.TARGET_STREAM_SIZE, size.type);
        assertEquals(640, size.width);
        assertEquals(360, size.height);
        Message.Incoming patches = parseFrame(golden("PatchRequest"));
        assertEquals(4, patches.count);
        assertEquals(96, patches.size);
        assertEquals("end of source", parseFrame(golden("Bye")).text);
    }

    @Test
    public void badInputIsRefusedWithAReason() {
        try {
            Message.checkLength(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xf0}, Message.MAX_MESSAGE_BYTES);
            fail("a 4 GB length must be refused");
        } catch (Message.ProtocolException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("4294967280 bytes exceeds the 4194304-byte limit"));
        }
        byte[] welcome = golden("Welcome");
        try {
            Message.parse(Arrays.copyOfRange(welcome, 4, welcome.length - 1));
            fail("a cut message must be refused");
        } catch (Message.ProtocolException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("cut short"));
        }
        try {
            Message.parse(new byte[] {0x55});
            fail("unknown types must be refused");
        } catch (Message.ProtocolException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("0x55"));
        }
    }

    @Test
    public void sealingTheClientsFirstMessagesGivesTheGoldenRecords() {
        Sealer sealer = new Sealer(golden("key_c2s"));
        assertArrayEquals(golden("sealed_c2s_0"), sealer.seal(golden("StreamConfig")));
        assertArrayEquals(golden("sealed_c2s_1"), sealer.seal(golden("VideoUnit")));
    }

    @Test
    public void openingTheDesktopsFirstRecordsGivesTheirMessages() throws Exception {
        DataInputStream wire = new DataInputStream(new ByteArrayInputStream(
                Pairing.concat(golden("sealed_s2c_0"), golden("sealed_s2c_1"))));
        Opener opener = new Opener(golden("key_s2c"), "the desktop");
        byte[] first = opener.read(wire);
        assertArrayEquals(body("KeyFrameRequest"), first);
        assertEquals(Message.KEY_FRAME_REQUEST, Message.parse(first).type);
        Message.Incoming second = Message.parse(opener.read(wire));
        assertEquals(Message.TARGET_BITRATE, second.type);
        assertEquals(1500000L, second.value);
    }

    /** Opens `records` in order with a fresh s2c opener; returns the failure of the last one. */
    private static IOException refusal(byte[]... records) {
        Opener opener = new Opener(golden("key_s2c"), "the desktop");
        for (int i = 0; i < records.length; i++) {
            byte[] r = records[i];
            try {
                opener.open(Arrays.copyOf(r, 4), Arrays.copyOfRange(r, 4, r.length));
                if (i == records.length - 1) fail("the last record was accepted");
            } catch (IOException e) {
                if (i == records.length - 1) return e;
                throw new AssertionError("record " + i + " was refused: " + e.getMessage(), e);
            }
        }
        throw new AssertionError("no records");
    }

    private static void assertAuthenticationFailed(IOException e, int counter) {
        assertTrue(e.getMessage(), e.getMessage().contains(
                "message " + counter + " from the desktop failed authentication (altered, replayed or reordered)"));
    }

    @Test
    public void aRecordWithAnyBitFlippedIsRefused() {
        byte[] record = golden("sealed_s2c_1");
        for (int bit = 4 * 8; bit < record.length * 8; bit++) { // every bit after the length
            byte[] altered = record.clone();
            altered[bit / 8] ^= (byte) (1 << (bit % 8));
            assertAuthenticationFailed(refusal(golden("sealed_s2c_0"), altered), 1);
        }
    }

    @Test
    public void aReplayedRecordIsRefused() {
        assertAuthenticationFailed(refusal(golden("sealed_s2c_0"), golden("sealed_s2c_0")), 1);
    }

    @Test
    public void recordsInSwappedOrderAreRefusedAndTheOpenerStaysShut() {
        assertAuthenticationFailed(refusal(golden("sealed_s2c_1")), 0);
        Opener opener = new Opener(golden("key_s2c"), "the desktop");
        byte[] second = golden("sealed_s2c_1");
        byte[] first = golden("sealed_s2c_0");
        try {
            opener.open(Arrays.copyOf(second, 4), Arrays.copyOfRange(second, 4, second.length));
            fail("the second record opened first");
        } catch (IOException expected) {
            // the swap itself
        }
        try {
            opener.open(Arrays.copyOf(first, 4), Arrays.copyOfRange(first, 4, first.length));
            fail("the first record opened after a failure; the stream must stay refused");
        } catch (IOException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("failed authentication"));
        }
    }

    @Test
    public void aRecordSealedForTheOtherDirectionIsRefused() {
        assertAuthenticationFailed(refusal(golden("sealed_c2s_0")), 0);
    }

    @Test
    public void recordLengthsOutsideTheBoundsAreRefusedBeforeAllocating() throws Exception {
        long[] bad = {0, 16, (4 << 20) + 17, 0xffffffffL};
        for (long length : bad) {
            byte[] header = {(byte) (length >>> 24), (byte) (length >>> 16), (byte) (length >>> 8), (byte) length};
            // Only the header on the wire: reading a body would end in EOF, so the bounds error
            // proves the length was judged first.
            try {
                new Opener(golden("key_s2c"), "the desktop").read(new DataInputStream(new ByteArrayInputStream(header)));
                fail("length " + length + " was accepted");
            } catch (EOFException e) {
                fail("length " + length + " was not checked before reading the body");
            } catch (IOException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("announces " + length + " bytes (must be 17..4194320)"));
            }
        }
        assertEquals(17, new Opener(golden("key_s2c"), "the desktop").recordLength(new byte[] {0, 0, 0, 17}));
        assertEquals((4 << 20) + 16, new Opener(golden("key_s2c"), "the desktop").recordLength(new byte[] {0, 0x40, 0, 16}));
    }

    @Test
    public void pairingCodesParseAndBadOnesSayWhy() {
        String secret = "40414243444546474849" + "4a4b4c4d4e4f50515253" + "5455565758595a5b5c5d" + "5e5f";
        Pairing p = Pairing.parse("stronglive://pair?v=1&name=Studio%20on%20box&host=192.168.1.20&host=fd00%3A%3A5&port=7878&secret="
                + secret + "&exp=1800000000");
        assertEquals("Studio on box", p.name);
        assertEquals(Arrays.asList("192.168.1.20", "fd00::5"), p.hosts);
        assertEquals(7878, p.port);
        assertArrayEquals(golden("secret"), p.secret);
        assertEquals(1800000000L, p.expires);
        String[][] bad = {
            {"http://example.com", "not a StrongLive pairing code"},
            {"stronglive://pair?v=1&port=7878&secret=" + secret, "no host"},
            {"stronglive://pair?v=1&host=1.2.3.4&port=0&secret=" + secret, "port"},
            {"stronglive://pair?v=1&host=1.2.3.4&port=7878&secret=abcd", "64 hex digits"},
            {"stronglive://pair?v=2&host=1.2.3.4", "version 2"},
        };
        for (String[] c : bad) {
            try {
                Pairing.parse(c[0]);
                fail("accepted " + c[0]);
            } catch (IllegalArgumentException e) {
                assertTrue(c[0] + ": " + e.getMessage(), e.getMessage().contains(c[1]));
            }
        }
    }
}
