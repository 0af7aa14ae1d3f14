package studio.stronglive.companion;

import java.io.IOException;
import studio.stronglive.companion.protocol.Client;

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
}
