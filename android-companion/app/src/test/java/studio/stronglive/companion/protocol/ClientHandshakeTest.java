package studio.stronglive.companion.protocol;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.FutureTask;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.Test;

/**
 * The Client's v2 handshake and sealed session against {@link FakeDesktop}: both sides prove
 * themselves, everything after Welcome is sealed both ways, and each way of failing says why and
 * sends the desktop nothing it should not get.
 */
public class ClientHandshakeTest {
    /** Feedback as a queue of events ("key", "bitrate 1500000", "closed: reason"). */
    private static final class Recorder implements Client.Feedback {
        final BlockingQueue<String> events = new LinkedBlockingQueue<String>();
        @Override public void onKeyFrameRequest() { events.add("key"); }
        @Override public void onTargetBitrate(long bps) { events.add("bitrate " + bps); }
        @Override public void onTargetStreamSize(int w, int h) { events.add("size " + w + "x" + h); }
        @Override public void onPatchRequest(int count, int size) { events.add("patches " + count + "x" + size); }
        @Override public void onClosed(String reason) { events.add("closed: " + reason); }

        String next() throws InterruptedException {
            String e = events.poll(5, TimeUnit.SECONDS);
            if (e == null) fail("no feedback within 5 s");
            return e;
        }
    }

    private static byte[] body(byte[] frame) {
        return Arrays.copyOfRange(frame, 4, frame.length);
    }

    @Test
    public void aSessionIsAuthenticatedAndSealedBothWays() throws Exception {
        FakeDesktop desktop = new FakeDesktop();
        Client client = desktop.connectPhone();
        assertEquals(FakeDesktop.SESSION_ID, client.sessionId);
        assertEquals(FakeDesktop.NAME, client.serverName);
        Recorder feedback = new Recorder();
        client.listen(feedback);

        byte[] config = Message.streamConfig(960, 540, 30, 1, 2000000, new byte[0]);
        byte[] unit = Message.videoUnit(33366, true, new byte[] {0, 0, 0, 1, 0x65, 1, 2, 3});
        client.send(config);
        client.send(unit);
        assertArrayEquals(body(config), desktop.read());
        assertArrayEquals(body(unit), desktop.read());

        desktop.send(new Message.Writer(Message.KEY_FRAME_REQUEST).bytes());
        desktop.send(new Message.Writer(Message.TARGET_BITRATE).u32(1500000).bytes());
        desktop.send(new Message.Writer(Message.PATCH_REQUEST).u16(4).u16(96).bytes());
        desktop.send(new Message.Writer(Message.TARGET_STREAM_SIZE).u16(640).u16(360).bytes());
        assertEquals("key", feedback.next());
        assertEquals("bitrate 1500000", feedback.next());
        assertEquals("patches 4x96", feedback.next());
        assertEquals("size 640x360", feedback.next());

        client.close();
        assertArrayEquals(body(Message.bye("stream stopped")), desktop.read());
        assertEquals(-1, desktop.readRaw());
        desktop.close();
    }

    @Test
    public void aDesktopThatCannotProveItHoldsTheKeyGetsNothingMore() throws Exception {
        final FakeDesktop desktop = new FakeDesktop(Message.VERSION, false);
        FutureTask<Integer> afterWelcome = FakeDesktop.inBackground(new Callable<Integer>() {
            @Override public Integer call() throws IOException {
                desktop.accept();
                return desktop.readRaw(); // what the phone sends after Welcome: must be EOF
            }
        });
        try {
            Client.connect(desktop.pairing(), FakeDesktop.DEVICE_ID, "JVM test phone").close();
            fail("a Welcome with a wrong server proof was accepted");
        } catch (IOException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(
                    "the desktop could not prove it holds this device's key (not the paired desktop?)"));
        }
        assertEquals("the phone sent bytes after a wrong server proof", -1, (int) afterWelcome.get(5, TimeUnit.SECONDS));
        desktop.close();
    }

    @Test
    public void aWrongSecretIsRejectedWithTheDesktopsReason() throws Exception {
        FakeDesktop desktop = new FakeDesktop();
        FutureTask<Void> handshake = desktop.acceptInBackground();
        byte[] wrong = desktop.secret.clone();
        wrong[0] ^= 1;
        try {
            Client.connect(desktop.pairingWith(wrong), FakeDesktop.DEVICE_ID, "JVM test phone").close();
            fail("a wrong secret was accepted");
        } catch (Client.RejectedException e) {
            assertEquals(1, e.code);
            assertTrue(e.getMessage(), e.getMessage().contains("wrong pairing secret"));
        }
        handshake.get(5, TimeUnit.SECONDS);
        desktop.close();
    }

    /** The phone hangs up at once, without a hello, and says which side to update. */
    private static void versionRefused(int desktopVersion, String advice) throws Exception {
        final FakeDesktop desktop = new FakeDesktop(desktopVersion, true);
        FutureTask<Integer> afterHello = FakeDesktop.inBackground(new Callable<Integer>() {
            @Override public Integer call() throws IOException {
                desktop.accept();
                return desktop.readRaw();
            }
        });
        try {
            Client.connect(desktop.pairing(), FakeDesktop.DEVICE_ID, "JVM test phone").close();
            fail("protocol version " + desktopVersion + " was accepted");
        } catch (Client.VersionException e) {
            assertEquals(desktopVersion, e.desktopVersion);
            assertEquals("the desktop speaks protocol version " + desktopVersion + ", this app version 2: " + advice, e.getMessage());
        }
        assertEquals(-1, (int) afterHello.get(5, TimeUnit.SECONDS));
        desktop.close();
    }

    @Test
    public void anotherProtocolVersionNamesBothAndTheSideToUpdate() throws Exception {
        versionRefused(1, "update StrongLive on the desktop");
        versionRefused(3, "update this app");
    }

    /** Replayed, then altered: each ends the session with the reason, and the phone hangs up. */
    private static void tamperedRecordEndsTheSession(boolean replay) throws Exception {
        FakeDesktop desktop = new FakeDesktop();
        Client client = desktop.connectPhone();
        Recorder feedback = new Recorder();
        client.listen(feedback);
        byte[] record = desktop.seal(new Message.Writer(Message.KEY_FRAME_REQUEST).bytes());
        int failing;
        if (replay) {
            desktop.sendRaw(record);
            assertEquals("key", feedback.next());
            desktop.sendRaw(record);
            failing = 1;
        } else {
            record[record.length - 1] ^= 0x40; // in the tag
            desktop.sendRaw(record);
            failing = 0;
        }
        String closed = feedback.next();
        assertEquals("closed: message " + failing + " from the desktop failed authentication (altered, replayed or reordered)",
                closed);
        assertEquals("the phone hung up", -1, desktop.readRaw());
        try {
            client.send(Message.videoUnit(0, true, new byte[] {0, 0, 0, 1, 0x65}));
            fail("sending went on after a record failed authentication");
        } catch (IOException expected) {
            // the socket is closed
        }
        client.close();
        desktop.close();
    }

    @Test
    public void aReplayedRecordFromTheDesktopEndsTheSession() throws Exception {
        tamperedRecordEndsTheSession(true);
    }

    @Test
    public void anAlteredRecordFromTheDesktopEndsTheSession() throws Exception {
        tamperedRecordEndsTheSession(false);
    }

    @Test
    public void aMessageOverTheLimitIsRefusedBeforeSealing() throws Exception {
        FakeDesktop desktop = new FakeDesktop();
        Client client = desktop.connectPhone();
        try {
            client.send(Message.videoUnit(0, true, new byte[Message.MAX_MESSAGE_BYTES]));
            fail("a message over 4 MiB was sent");
        } catch (IOException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("exceeds the protocol's 4194304-byte limit"));
        }
        // Nothing was sealed: the next message is still record 0 for the desktop.
        byte[] stats = Message.stats(1, 2, 0, 3);
        client.send(stats);
        assertArrayEquals(body(stats), desktop.read());
        client.close();
        desktop.close();
    }
}
