package studio.stronglive.companion;

import android.content.Context;
import android.media.MediaExtractor;
import android.media.MediaFormat;
import android.net.Uri;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import studio.stronglive.companion.protocol.Client;
import studio.stronglive.companion.protocol.Message;

/**
 * File mode (as STRONGLIVE's app had): the H.264 samples of an MP4 picked with the system picker,
 * sent as they are (MediaExtractor hands AVC samples out in Annex-B) and paced at their timestamps.
 * Key-frame and bitrate requests cannot be honoured without re-encoding; they are ignored.
 */
final class FileStreamer implements Streamer {
    private final Context context;
    private final Uri uri;
    private volatile boolean running;
    private Thread thread;

    FileStreamer(Context context, Uri uri) {
        this.context = context;
        this.uri = uri;
    }

    @Override public void start(final Client client, final Listener listener) throws IOException {
        final MediaExtractor extractor = new MediaExtractor();
        extractor.setDataSource(context, uri, null);
        int track = -1;
        MediaFormat format = null;
        for (int i = 0; i < extractor.getTrackCount(); i++) {
            MediaFormat f = extractor.getTrackFormat(i);
            if ("video/avc".equals(f.getString(MediaFormat.KEY_MIME))) {
                track = i;
                format = f;
                break;
            }
        }
        if (track < 0) {
            extractor.release();
            throw new IOException("the file has no H.264 video track");
        }
        extractor.selectTrack(track);
        ByteArrayOutputStream sets = new ByteArrayOutputStream();
        for (String key : new String[] {"csd-0", "csd-1"}) {
            if (format.containsKey(key)) {
                ByteBuffer b = format.getByteBuffer(key);
                byte[] bytes = new byte[b.remaining()];
                b.get(bytes);
                sets.write(bytes, 0, bytes.length);
            }
        }
        int fps = format.containsKey(MediaFormat.KEY_FRAME_RATE) ? format.getInteger(MediaFormat.KEY_FRAME_RATE) : 30;
        client.send(Message.streamConfig(format.getInteger(MediaFormat.KEY_WIDTH), format.getInteger(MediaFormat.KEY_HEIGHT),
                fps, 1, 0, sets.toByteArray()));
        running = true;
        thread = new Thread(new Runnable() {
            @Override public void run() {
                ByteBuffer buffer = ByteBuffer.allocate(4 << 20);
                long started = System.nanoTime();
                long firstPts = -1;
                Progress progress = new Progress();
                String reason = "end of file";
                try {
                    while (running) {
                        int size = extractor.readSampleData(buffer, 0);
                        if (size < 0) break;
                        long pts = extractor.getSampleTime();
                        boolean key = (extractor.getSampleFlags() & MediaExtractor.SAMPLE_FLAG_SYNC) != 0;
                        if (firstPts < 0) firstPts = pts;
                        long dueNs = started + (pts - firstPts) * 1000;
                        long waitMs = (dueNs - System.nanoTime()) / 1000000;
                        if (waitMs > 0) Thread.sleep(waitMs);
                        byte[] unit = new byte[size];
                        buffer.position(0);
                        buffer.get(unit, 0, size);
                        client.send(Message.videoUnit(pts - firstPts, key, unit));
                        progress.sent(size, client, listener);
                        extractor.advance();
                    }
                } catch (IOException e) {
                    reason = "connection lost: " + e.getMessage();
                } catch (InterruptedException e) {
                    reason = "stopped";
                } finally {
                    extractor.release();
                }
                listener.onStopped(reason);
            }
        }, "stronglive-file");
        thread.start();
    }

    @Override public void requestKeyFrame() {}

    @Override public void setBitrate(long bitsPerSecond) {}

    @Override public void stop() {
        running = false;
        if (thread != null) thread.interrupt();
    }
}
