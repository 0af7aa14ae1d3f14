package studio.stronglive.companion;

import java.io.IOException;
import studio.stronglive.companion.protocol.Client;
import studio.stronglive.companion.protocol.Message;

/** A source that streams to a connected {@link Client} until stopped. */
interface Streamer {
    /** Progress for the status line, called about once a second from a worker thread. */
    interface Listener {
        void onStats(long frames, long bytes, double fps, double bitsPerSecond);
        void onStopped(String reason);
    }

    void start(Client client, Listener listener) throws IOException;

    /** Server feedback. */
    void requestKeyFrame();
    void setBitrate(long bitsPerSecond);

    /** Stops and releases everything (camera, codec, extractor). Safe to call twice. */
    void stop();

    /** Counts what was sent; once a second tells the desktop (Stats) and the screen. */
    final class Progress {
        private final long started = System.nanoTime();
        private long lastReport = started;
        private long frames;
        private long bytes;

        void sent(int size, Client client, Listener listener) throws IOException {
            frames++;
            bytes += size;
            long now = System.nanoTime();
            if (now - lastReport > 1000000000L) {
                double seconds = (now - started) / 1e9;
                client.send(Message.stats(frames, bytes, 0, (long) (frames / seconds * 1000)));
                listener.onStats(frames, bytes, frames / seconds, bytes * 8 / seconds);
                lastReport = now;
            }
        }
    }
}
