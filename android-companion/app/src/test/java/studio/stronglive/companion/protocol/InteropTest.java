package studio.stronglive.companion.protocol;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import org.junit.Test;

/**
 * The app's protocol client against the real desktop server: `stronglive serve` on loopback
 * receives and decodes every access unit of an H.264 file; a wrong secret is refused.
 * Needs -Dstronglive.bin=PATH and -Dh264=FILE (android-companion/build.sh passes them).
 */
public class InteropTest {
    private static final class Serve {
        final Process process;
        final List<String> lines = new ArrayList<String>();
        final BufferedReader out;

        Serve(File config, String... extra) throws IOException {
            List<String> command = new ArrayList<String>(java.util.Arrays.asList(System.getProperty("stronglive.bin"), "serve",
                    "--bind", "127.0.0.1:0", "--no-qr", "--show-secret", "--sr-queue", "240", "--sr-every-frame"));
            command.addAll(java.util.Arrays.asList(extra));
            ProcessBuilder pb = new ProcessBuilder(command);
            pb.environment().put("STRONGLIVE_CONFIG_DIR", config.getPath());
            // Models a learning session keeps go beside the config, never into the user's folder.
            pb.environment().put("STRONGLIVE_MODELS", new File(config, "models").getPath());
            pb.redirectError(ProcessBuilder.Redirect.DISCARD);
            process = pb.start();
            out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        }

        String waitFor(String needle) throws IOException {
            for (String l : lines) if (l.contains(needle)) return l;
            String line;
            while ((line = out.readLine()) != null) {
                lines.add(line);
                if (line.contains(needle)) return line;
            }
            fail("serve ended without printing \"" + needle + "\": " + lines);
            return null;
        }
    }

    private static byte[] randomId() {
        byte[] id = new byte[16];
        new SecureRandom().nextBytes(id);
        return id;
    }

    @Test
    public void theServerReceivesAndDecodesEveryUnitAndRefusesAWrongSecret() throws Exception {
        File config = Files.createTempDirectory("stronglive-interop").toFile();
        Serve serve = new Serve(config, "--once", "--model", "bicubic");
        try {
            Pairing pairing = Pairing.parse(serve.waitFor("pair: ").substring("pair: ".length()).trim());

            // Wrong secret: refused with the reason, before any video.
            byte[] wrong = pairing.secret.clone();
            wrong[0] ^= 1;
            Pairing forged = new Pairing(pairing.name, pairing.hosts, pairing.port, wrong, pairing.expires);
            try {
                Client.connect(forged, randomId(), "intruder").close();
                fail("a wrong secret was accepted");
            } catch (Client.RejectedException e) {
                assertEquals(1, e.code);
                assertTrue(e.getMessage(), e.getMessage().contains("wrong pairing secret"));
            }

            byte[] stream = Files.readAllBytes(Paths.get(System.getProperty("h264")));
            List<byte[]> units = AnnexB.accessUnits(stream);
            assertTrue("test stream has frames", units.size() >= 10);
            Client client = Client.connect(pairing, randomId(), "JVM interop test");
            final int[] keyRequests = {0};
            client.listen(new Client.Feedback() {
                @Override public void onKeyFrameRequest() { keyRequests[0]++; }
                @Override public void onTargetBitrate(long bps) {}
                @Override public void onTargetStreamSize(int w, int h) {}
                @Override public void onPatchRequest(int count, int size) {}
                @Override public void onClosed(String reason) {}
            });
            client.send(Message.streamConfig(160, 90, 10, 1, 0, new byte[0]));
            long pts = 0;
            for (byte[] unit : units) {
                client.send(Message.videoUnit(pts, AnnexB.isKey(unit), unit));
                pts += 100000;
            }
            client.send(Message.stats(units.size(), stream.length, 0, 10000));
            client.close();
            String ended = serve.waitFor("session 1 ended");
            String expected = units.size() + " units received, " + units.size() + " frames decoded, " + units.size() + " super-resolved + 0 filled, 0 dropped, 0 decode errors";
            assertTrue(ended, ended.contains(expected));
            assertEquals(0, keyRequests[0]);
            assertEquals(0, serve.process.waitFor());
        } finally {
            serve.process.destroy();
        }
    }

    private static Pairing pairingOf(Serve serve) throws IOException {
        return Pairing.parse(serve.waitFor("pair: ").substring("pair: ".length()).trim());
    }

    private static final Client.Feedback IGNORE = new Client.Feedback() {
        @Override public void onKeyFrameRequest() {}
        @Override public void onTargetBitrate(long bps) {}
        @Override public void onTargetStreamSize(int w, int h) {}
        @Override public void onPatchRequest(int count, int size) {}
        @Override public void onClosed(String reason) {}
    };

    /** Sends `units` (10 fps pts) after a config; after each unit, `after` may add messages. */
    private static void stream(Client client, List<byte[]> units, int count) throws IOException {
        client.send(Message.streamConfig(160, 90, 10, 1, 0, new byte[0]));
        for (int i = 0; i < count; i++) {
            client.send(Message.videoUnit(i * 100000L, AnnexB.isKey(units.get(i)), units.get(i)));
        }
    }

    /** The app stops mid-stream (Bye) and connects again: two sessions, each received whole. */
    @Test
    public void aStreamStoppedMidwayCanBeStartedAgain() throws Exception {
        File config = Files.createTempDirectory("stronglive-interop").toFile();
        Serve serve = new Serve(config, "--model", "bicubic");
        try {
            Pairing pairing = pairingOf(serve);
            List<byte[]> units = AnnexB.accessUnits(Files.readAllBytes(Paths.get(System.getProperty("h264"))));
            byte[] id = randomId();
            Client first = Client.connect(pairing, id, "JVM interop test");
            first.listen(IGNORE);
            stream(first, units, units.size() / 2);
            first.close();
            String ended = serve.waitFor("session 1 ended");
            assertTrue(ended, ended.contains("peer said bye: stream stopped") && ended.contains(units.size() / 2 + " units received"));
            Client second = Client.connect(pairing, id, "JVM interop test");
            second.listen(IGNORE);
            stream(second, units, units.size());
            second.close();
            ended = serve.waitFor("session 2 ended");
            assertTrue(ended, ended.contains(units.size() + " units received, " + units.size() + " frames decoded"));
        } finally {
            serve.process.destroy();
        }
    }

    /**
     * Learning over the real server: the desktop asks for patches once the stream starts, the
     * app's patches (PNG from {@code Png}, on the x4 grid, the pts of a sent unit) become
     * training pairs.
     */
    @Test
    public void patchesAskedForReachTheLearnerAndAreUsed() throws Exception {
        File config = Files.createTempDirectory("stronglive-interop").toFile();
        Serve serve = new Serve(config, "--once", "--model", "fmen-tiny-x4", "--learn");
        try {
            Pairing pairing = pairingOf(serve);
            List<byte[]> units = AnnexB.accessUnits(Files.readAllBytes(Paths.get(System.getProperty("h264"))));
            Client client = Client.connect(pairing, randomId(), "JVM interop test");
            final java.util.concurrent.BlockingQueue<int[]> asked = new java.util.concurrent.LinkedBlockingQueue<int[]>();
            client.listen(new Client.Feedback() {
                @Override public void onKeyFrameRequest() {}
                @Override public void onTargetBitrate(long bps) {}
                @Override public void onTargetStreamSize(int w, int h) {}
                @Override public void onPatchRequest(int count, int size) { asked.add(new int[] {count, size}); }
                @Override public void onClosed(String reason) {}
            });
            client.send(Message.streamConfig(160, 90, 10, 1, 0, new byte[0]));
            int[] request = asked.poll(10, java.util.concurrent.TimeUnit.SECONDS);
            assertTrue("no PatchRequest after the stream started", request != null);
            assertEquals(96, request[1]);
            int patches = Math.min(request[0], 6);
            assertTrue(patches >= 4);
            byte[] rgb = new byte[96 * 96 * 3];
            for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) (i * 7);
            byte[] png = studio.stronglive.companion.patches.Png.encodeRgb(96, 96, rgb);
            int sent = 0;
            for (int i = 0; i < units.size(); i++) {
                long pts = i * 100000L;
                client.send(Message.videoUnit(pts, AnnexB.isKey(units.get(i)), units.get(i)));
                if (i >= 2 && sent < patches) {
                    client.send(Message.hrPatch(pts, 4 * sent, 0, 96, 96, Message.PATCH_PNG, png));
                    sent++;
                }
                Thread.sleep(30);
            }
            client.close();
            String learned = serve.waitFor("session 1 learned:");
            assertTrue(learned, learned.startsWith("session 1 learned: " + patches + " pairs (0 patches refused)"));
            assertEquals(0, serve.process.waitFor());
        } finally {
            serve.process.destroy();
        }
    }
}
