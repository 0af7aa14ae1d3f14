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
import studio.stronglive.companion.session.BFrames;
import studio.stronglive.companion.session.SessionController;

/**
 * File mode (as STRONGLIVE's app had): the H.264 samples of an MP4 picked with the system picker,
 * sent as they are (MediaExtractor hands AVC samples out in Annex-B) and paced at their timestamps.
 * The file is opened and checked before connecting: no H.264 track, B-frames (the protocol has
 * no reordering) or a rotated recording (the desktop would show it sideways) are refused with
 * the reason. Key-frame, bitrate and patch requests cannot be honoured without re-encoding.
 */
final class FileStreamer extends Streamer {
    /** Samples looked at for B-frames before streaming. */
    private static final int B_FRAME_PROBE = 60;

    private final Context context;
    private final Uri uri;
    private MediaExtractor extractor;
    private MediaFormat format;
    private volatile boolean running;
    private Thread thread;

    FileStreamer(Context context, Uri uri) {
        this.context = context;
        this.uri = uri;
    }

    @Override public void prepare() throws IOException {
        extractor = new MediaExtractor();
        extractor.setDataSource(context, uri, null);
        int track = -1;
        for (int i = 0; i < extractor.getTrackCount() && track < 0; i++) {
            MediaFormat f = extractor.getTrackFormat(i);
            if ("video/avc".equals(f.getString(MediaFormat.KEY_MIME))) {
                track = i;
                format = f;
            }
        }
        if (track < 0) throw new IOException("the file has no H.264 video track");
        if (format.containsKey("rotation-degrees") && format.getInteger("rotation-degrees") % 360 != 0) {
            throw new IOException("the recording is rotated " + format.getInteger("rotation-degrees")
                    + " degrees; stream it from the camera instead, or rotate it first");
        }
        extractor.selectTrack(track);
        long[] pts = new long[B_FRAME_PROBE];
        int n = 0;
        while (n < pts.length && extractor.getSampleTime() >= 0) {
            pts[n++] = extractor.getSampleTime();
            extractor.advance();
        }
        long[] seen = new long[n];
        System.arraycopy(pts, 0, seen, 0, n);
        if (BFrames.present(seen)) {
            throw new IOException("the file has B-frames, which live streaming cannot carry; re-encode it without B-frames (e.g. the camera app's default)");
        }
        extractor.seekTo(0, MediaExtractor.SEEK_TO_PREVIOUS_SYNC);
    }

    @Override void stream(final Client client, final SessionController.Events events) throws IOException {
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
        final MediaExtractor source = extractor;
        thread = new Thread(new Runnable() {
            @Override public void run() {
                events.stopped(pump(source, client, events));
            }
        }, "stronglive-file");
        thread.start();
    }

    /** Sends every sample at its time; returns why it ended. */
    private String pump(MediaExtractor source, Client client, SessionController.Events events) {
        ByteBuffer buffer = ByteBuffer.allocate(4 << 20);
        long started = System.nanoTime();
        long firstPts = -1;
        Progress progress = new Progress();
        try {
            while (running) {
                int size = source.readSampleData(buffer, 0);
                if (size < 0) return "end of file";
                long pts = source.getSampleTime();
                boolean key = (source.getSampleFlags() & MediaExtractor.SAMPLE_FLAG_SYNC) != 0;
                if (firstPts < 0) firstPts = pts;
                long waitMs = (started + (pts - firstPts) * 1000 - System.nanoTime()) / 1000000;
                if (waitMs > 0) Thread.sleep(waitMs);
                byte[] unit = new byte[size];
                buffer.position(0);
                buffer.get(unit, 0, size);
                client.send(Message.videoUnit(pts - firstPts, key, unit));
                progress.sent(size, client, events);
                source.advance();
            }
            return "stopped";
        } catch (IOException e) {
            return "connection lost: " + e.getMessage();
        } catch (InterruptedException e) {
            return "stopped";
        }
    }

    @Override public String describe() {
        return format == null ? "a file" : "a file, " + format.getInteger(MediaFormat.KEY_WIDTH) + "x" + format.getInteger(MediaFormat.KEY_HEIGHT);
    }

    @Override void requestKeyFrame() {}

    @Override void setBitrate(long bitsPerSecond) {}

    @Override void requestPatches(int count, int size) {}

    /** A file is sent as it was encoded (stream copy): its size cannot change. */
    @Override void limitStreamSize(int width, int height) {}

    @Override public synchronized void stop() {
        running = false;
        Thread t = thread;
        thread = null;
        if (t != null) {
            t.interrupt();
            try {
                t.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (extractor != null) {
            extractor.release();
            extractor = null;
        }
    }
}
