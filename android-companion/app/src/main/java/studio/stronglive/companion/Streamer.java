package studio.stronglive.companion;

import java.io.IOException;
import studio.stronglive.companion.protocol.Client;
import studio.stronglive.companion.protocol.Message;
import studio.stronglive.companion.session.SessionController;

/** A source that streams to a connected {@link Client} until stopped: the camera or a file. */
abstract class Streamer implements SessionController.Source {
    /** The protocol client as the session controller's link. */
    static final class ClientLink implements SessionController.Link {
        final Client client;

        ClientLink(Client client) {
            this.client = client;
        }

        @Override public void close() {
            client.close();
        }
    }

    /** Server feedback (called on the client's reader thread). */
    abstract void requestKeyFrame();

    abstract void setBitrate(long bitsPerSecond);

    abstract void requestPatches(int count, int size);

    /** The desktop wants pictures no larger than width x height (0 x 0: any size). */
    abstract void limitStreamSize(int width, int height);

    /** Streams over `client`; `events` gets stats and the reason it stopped. */
    abstract void stream(Client client, SessionController.Events events) throws IOException;

    @Override public final void start(SessionController.Link link, final SessionController.Events events) throws IOException {
        Client client = ((ClientLink) link).client;
        client.listen(new Client.Feedback() {
            @Override public void onKeyFrameRequest() { requestKeyFrame(); }
            @Override public void onTargetBitrate(long bps) { setBitrate(bps); }
            @Override public void onPatchRequest(int count, int size) { requestPatches(count, size); }
            @Override public void onTargetStreamSize(int w, int h) { limitStreamSize(w, h); }
            @Override public void onClosed(String reason) { events.stopped(reason); }
        });
        stream(client, events);
    }

    /** Counts what was sent; once a second tells the desktop (Stats) and the screen. */
    static final class Progress {
        private final long started = System.nanoTime();
        private long lastReport = started;
        private long frames;
        private long bytes;

        void sent(int size, Client client, SessionController.Events events) throws IOException {
            frames++;
            bytes += size;
            long now = System.nanoTime();
            if (now - lastReport > 1000000000L) {
                double seconds = (now - started) / 1e9;
                client.send(Message.stats(frames, bytes, 0, (long) (frames / seconds * 1000)));
                events.stats(String.format("Streaming to %s: %d frames, %.1f fps, %.2f Mbit/s",
                        client.serverName, frames, frames / seconds, bytes * 8 / seconds / 1e6));
                lastReport = now;
            }
        }
    }
}
