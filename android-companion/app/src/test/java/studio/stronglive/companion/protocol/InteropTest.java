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

        Serve(File config) throws IOException {
            ProcessBuilder pb = new ProcessBuilder(System.getProperty("stronglive.bin"), "serve", "--bind", "127.0.0.1:0",
                    "--no-qr", "--once", "--model", "bicubic", "--sr-queue", "240");
            pb.environment().put("STRONGLIVE_CONFIG_DIR", config.getPath());
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
        Serve serve = new Serve(config);
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
            String expected = units.size() + " units received, " + units.size() + " frames decoded, " + units.size() + " upscaled, 0 dropped, 0 decode errors";
            assertTrue(ended, ended.contains(expected));
            assertEquals(0, keyRequests[0]);
            assertEquals(0, serve.process.waitFor());
        } finally {
            serve.process.destroy();
        }
    }
}
