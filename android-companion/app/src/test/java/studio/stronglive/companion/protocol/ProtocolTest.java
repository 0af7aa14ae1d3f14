package studio.stronglive.companion.protocol;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

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

    @Test
    public void deviceKeyAndProofMatchTheGoldenValues() {
        byte[] key = Pairing.deviceKey(golden("secret"), range(0xa0, 16));
        assertArrayEquals(golden("device_key"), key);
        assertArrayEquals(golden("proof"), Pairing.proof(key, range(0, 32), 1, range(0xa0, 16), "Pixel 7"));
    }

    @Test
    public void clientMessagesEncodeToTheGoldenBytes() {
        assertArrayEquals(golden("ClientHello"), Message.clientHello(range(0xa0, 16), "Pixel 7", golden("proof")));
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
        assertEquals(1, hello.version);
        assertArrayEquals(range(0, 32), hello.nonce);
        assertEquals("Studio", hello.text);
        assertEquals(0x0102030405060708L, parseFrame(golden("Welcome")).value);
        Message.Incoming reject = parseFrame(golden("Reject"));
        assertEquals(1, reject.code);
        assertEquals("wrong pairing secret", reject.text);
        assertEquals(1500000L, parseFrame(golden("TargetBitrate")).value);
        assertEquals(Message.KEY_FRAME_REQUEST, parseFrame(golden("KeyFrameRequest")).type);
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
