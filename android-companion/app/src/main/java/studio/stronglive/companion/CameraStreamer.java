package studio.stronglive.companion;

import android.content.Context;
import android.graphics.ImageFormat;
import android.hardware.camera2.CameraAccessException;
import android.hardware.camera2.CameraCaptureSession;
import android.hardware.camera2.CameraCharacteristics;
import android.hardware.camera2.CameraDevice;
import android.hardware.camera2.CameraManager;
import android.hardware.camera2.CaptureRequest;
import android.hardware.camera2.params.StreamConfigurationMap;
import android.media.Image;
import android.media.ImageReader;
import android.media.MediaCodec;
import android.media.MediaCodecInfo;
import android.media.MediaFormat;
import android.os.Bundle;
import android.os.Handler;
import android.os.HandlerThread;
import android.util.Range;
import android.util.Size;
import android.view.Surface;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import studio.stronglive.companion.patches.PatchPlanner;
import studio.stronglive.companion.patches.Png;
import studio.stronglive.companion.patches.YuvCrop;
import studio.stronglive.companion.protocol.Client;
import studio.stronglive.companion.protocol.Message;
import studio.stronglive.companion.session.SessionController;
import studio.stronglive.companion.session.StreamSizes;

/**
 * Camera mode: Camera2 renders into the input surface of a MediaCodec H.264 encoder (no frame
 * copies in app code) and into the screen's small preview; encoded units go to the desktop with
 * their timestamps. The size is one the camera can give an encoder (the nearest to the one
 * asked for), checked against the encoder's capabilities before configuring it. When the
 * desktop asks for HR patches and the camera can give a YUV output at four times the stream
 * size, a third output (ImageReader) delivers full-resolution frames; patches are cut from them
 * at most 5 a second with the frame's sensor timestamp, which is also the encoded unit's pts.
 */
final class CameraStreamer extends Streamer {
    private final Context context;
    private final int wantWidth;
    private final int wantHeight;
    /** The desktop's TargetStreamSize (0 = none): the camera and encoder are configured once
     * per session, so it applies from the next session's prepare(). */
    private static volatile int limitWidth;
    private static volatile int limitHeight;
    private final int fps;
    private final Surface preview;
    private int width;
    private int height;
    private int bitrate;
    private Size patchSource;
    private String cameraId;
    private HandlerThread cameraThread;
    private Handler cameraHandler;
    /** Guards the codec against feedback (setParameters) racing its release. */
    private final Object codecLock = new Object();
    private MediaCodec codec;
    private Surface input;
    private ImageReader hrFrames;
    private CameraDevice camera;
    private CameraCaptureSession session;
    private volatile boolean running;
    private Thread drain;
    private final PatchPlanner patches = new PatchPlanner();
    private ExecutorService patchSender;

    CameraStreamer(Context context, int width, int height, int fps, int bitrate, Surface preview) {
        this.context = context;
        this.wantWidth = width;
        this.wantHeight = height;
        this.fps = fps;
        this.bitrate = bitrate;
        this.preview = preview;
    }

    /** The size actually streamed (after {@link #prepare}). */
    @Override public String describe() {
        return "camera " + width + "x" + height + " at " + bitrate / 1000 + " kbit/s"
                + (patchSource != null ? ", HR patches from " + patchSource : ", no HR patches at this size");
    }

    @Override public void prepare() throws IOException {
        CameraManager manager = (CameraManager) context.getSystemService(Context.CAMERA_SERVICE);
        try {
            cameraId = backCamera(manager);
            StreamConfigurationMap map = manager.getCameraCharacteristics(cameraId)
                    .get(CameraCharacteristics.SCALER_STREAM_CONFIGURATION_MAP);
            if (map == null) throw new IOException("the camera lists no output sizes");
            int w = limitWidth > 0 ? Math.min(wantWidth, limitWidth) : wantWidth;
            int h = limitHeight > 0 ? Math.min(wantHeight, limitHeight) : wantHeight;
            int[] size = StreamSizes.nearest(sizes(map.getOutputSizes(MediaCodec.class)), w, h);
            width = size[0];
            height = size[1];
            int[] hr = StreamSizes.patchSource(sizes(map.getOutputSizes(ImageFormat.YUV_420_888)), size);
            patchSource = hr == null ? null : new Size(hr[0], hr[1]);
        } catch (CameraAccessException | IllegalArgumentException e) {
            throw new IOException("cannot use the camera: " + e.getMessage(), e);
        }
        configureEncoder();
    }

    private static String backCamera(CameraManager manager) throws CameraAccessException, IOException {
        String[] ids = manager.getCameraIdList();
        for (String id : ids) {
            Integer facing = manager.getCameraCharacteristics(id).get(CameraCharacteristics.LENS_FACING);
            if (facing != null && facing == CameraCharacteristics.LENS_FACING_BACK) return id;
        }
        if (ids.length == 0) throw new IOException("this device has no camera");
        return ids[0];
    }

    private static List<int[]> sizes(Size[] sizes) {
        List<int[]> out = new ArrayList<int[]>();
        if (sizes != null) for (Size s : sizes) out.add(new int[] {s.getWidth(), s.getHeight()});
        return out;
    }

    /** Checks the encoder can take the size and bitrate, then configures it (or says why not). */
    private void configureEncoder() throws IOException {
        try {
            MediaCodec c = MediaCodec.createEncoderByType("video/avc");
            MediaCodecInfo.VideoCapabilities caps = c.getCodecInfo().getCapabilitiesForType("video/avc").getVideoCapabilities();
            if (!caps.isSizeSupported(width, height)) {
                c.release();
                throw new IOException("the H.264 encoder cannot take " + width + "x" + height);
            }
            Range<Integer> rates = caps.getBitrateRange();
            bitrate = Math.max(rates.getLower(), Math.min(rates.getUpper(), bitrate));
            MediaFormat format = MediaFormat.createVideoFormat("video/avc", width, height);
            format.setInteger(MediaFormat.KEY_COLOR_FORMAT, MediaCodecInfo.CodecCapabilities.COLOR_FormatSurface);
            format.setInteger(MediaFormat.KEY_BIT_RATE, bitrate);
            format.setInteger(MediaFormat.KEY_FRAME_RATE, fps);
            format.setInteger(MediaFormat.KEY_I_FRAME_INTERVAL, 1);
            try {
                c.configure(format, null, null, MediaCodec.CONFIGURE_FLAG_ENCODE);
            } catch (IllegalStateException | IllegalArgumentException e) {
                // MediaCodec.CodecException is an IllegalStateException.
                c.release();
                throw new IOException("the H.264 encoder refused " + width + "x" + height + " at "
                        + bitrate / 1000 + " kbit/s: " + e.getMessage(), e);
            }
            synchronized (codecLock) {
                codec = c;
                input = c.createInputSurface();
            }
        } catch (IllegalStateException | IllegalArgumentException e) {
            throw new IOException("no usable H.264 encoder: " + e.getMessage(), e);
        }
    }

    @Override void stream(final Client client, final SessionController.Events events) throws IOException {
        synchronized (codecLock) {
            if (codec == null) throw new IOException("stopped");
            codec.start();
        }
        running = true;
        cameraThread = new HandlerThread("stronglive-camera");
        cameraThread.start();
        cameraHandler = new Handler(cameraThread.getLooper());
        if (patchSource != null) {
            patchSender = Executors.newSingleThreadExecutor();
            hrFrames = ImageReader.newInstance(patchSource.getWidth(), patchSource.getHeight(), ImageFormat.YUV_420_888, 2);
            hrFrames.setOnImageAvailableListener(new ImageReader.OnImageAvailableListener() {
                @Override public void onImageAvailable(ImageReader reader) { takePatch(reader, client); }
            }, cameraHandler);
        }
        openCamera(events);
        drain = new Thread(new Runnable() {
            @Override public void run() {
                events.stopped(drainEncoder(client, events));
            }
        }, "stronglive-encoder");
        drain.start();
    }

    private void openCamera(final SessionController.Events events) throws IOException {
        CameraManager manager = (CameraManager) context.getSystemService(Context.CAMERA_SERVICE);
        try {
            manager.openCamera(cameraId, new CameraDevice.StateCallback() {
                @Override public void onOpened(CameraDevice device) {
                    synchronized (CameraStreamer.this) {
                        if (!running) {
                            device.close(); // stopped while the camera was opening
                            return;
                        }
                        camera = device;
                    }
                    startSession(events);
                }
                @Override public void onDisconnected(CameraDevice device) {
                    device.close();
                    events.stopped("camera disconnected");
                }
                @Override public void onError(CameraDevice device, int error) {
                    device.close();
                    events.stopped("camera error " + error);
                }
            }, cameraHandler);
        } catch (CameraAccessException | SecurityException e) {
            throw new IOException("cannot open the camera: " + e.getMessage(), e);
        }
    }

    private synchronized void startSession(final SessionController.Events events) {
        if (camera == null) return;
        final List<Surface> outputs = new ArrayList<Surface>();
        outputs.add(input);
        if (preview != null) outputs.add(preview);
        if (hrFrames != null) outputs.add(hrFrames.getSurface());
        try {
            camera.createCaptureSession(outputs, new CameraCaptureSession.StateCallback() {
                @Override public void onConfigured(CameraCaptureSession s) {
                    synchronized (CameraStreamer.this) {
                        if (!running || camera == null) {
                            s.close();
                            return;
                        }
                        session = s;
                        try {
                            CaptureRequest.Builder request = camera.createCaptureRequest(CameraDevice.TEMPLATE_RECORD);
                            for (Surface target : outputs) request.addTarget(target);
                            s.setRepeatingRequest(request.build(), null, cameraHandler);
                        } catch (CameraAccessException | IllegalStateException e) {
                            events.stopped("camera: " + e.getMessage());
                        }
                    }
                }
                @Override public void onConfigureFailed(CameraCaptureSession s) {
                    events.stopped("the camera cannot produce " + describe() + " at once");
                }
            }, cameraHandler);
        } catch (CameraAccessException | IllegalStateException e) {
            events.stopped("camera: " + e.getMessage());
        }
    }

    /** Always takes the newest HR frame (so the camera never waits); cuts a patch when one is due. */
    private void takePatch(ImageReader reader, final Client client) {
        Image image = reader.acquireLatestImage();
        if (image == null) return;
        try {
            long now = System.nanoTime();
            final int side = patches.due(now);
            if (side == 0 || side > image.getWidth() || side > image.getHeight()) return;
            final Image.Plane[] planes = image.getPlanes();
            final int w = image.getWidth();
            PatchPlanner.LumaSource luma = new PatchPlanner.LumaSource() {
                @Override public int at(int x, int y) {
                    return planes[0].getBuffer().get(y * planes[0].getRowStride() + x * planes[0].getPixelStride()) & 0xff;
                }
            };
            long ordinal = patches.cut(now);
            int[] at = PatchPlanner.position(w, image.getHeight(), side, ordinal, luma);
            final byte[] rgb = YuvCrop.rgb(plane(planes[0]), plane(planes[1]), plane(planes[2]), at[0], at[1], side);
            // The sensor timestamp: the same clock the encoder's input surface stamps frames with.
            final long ptsUs = image.getTimestamp() / 1000;
            final int x = at[0];
            final int y = at[1];
            patchSender.execute(new Runnable() {
                @Override public void run() {
                    try {
                        client.send(Message.hrPatch(ptsUs, x, y, side, side, Message.PATCH_PNG, Png.encodeRgb(side, side, rgb)));
                    } catch (IOException ignored) {
                        // the connection is gone; the encoder loop reports it
                    }
                }
            });
        } finally {
            image.close();
        }
    }

    private static YuvCrop.Plane plane(final Image.Plane p) {
        final ByteBuffer b = p.getBuffer();
        return new YuvCrop.Plane() {
            @Override public int get(int index) { return b.get(index) & 0xff; }
            @Override public int rowStride() { return p.getRowStride(); }
            @Override public int pixelStride() { return p.getPixelStride(); }
        };
    }

    private String drainEncoder(Client client, SessionController.Events events) {
        MediaCodec.BufferInfo info = new MediaCodec.BufferInfo();
        Progress progress = new Progress();
        MediaCodec c = codec;
        try {
            while (running) {
                int index = c.dequeueOutputBuffer(info, 10000);
                if (index < 0) continue;
                ByteBuffer buffer = c.getOutputBuffer(index);
                byte[] data = new byte[info.size];
                if (buffer != null) {
                    buffer.position(info.offset);
                    buffer.get(data);
                }
                c.releaseOutputBuffer(index, false);
                if ((info.flags & MediaCodec.BUFFER_FLAG_CODEC_CONFIG) != 0) {
                    client.send(Message.streamConfig(width, height, fps, 1, bitrate, data));
                    continue;
                }
                boolean key = (info.flags & MediaCodec.BUFFER_FLAG_KEY_FRAME) != 0;
                client.send(Message.videoUnit(info.presentationTimeUs, key, data));
                progress.sent(data.length, client, events);
            }
            return "stopped";
        } catch (IOException e) {
            return "connection lost: " + e.getMessage();
        } catch (IllegalStateException e) {
            return "encoder stopped";
        }
    }

    @Override void requestKeyFrame() {
        Bundle b = new Bundle();
        b.putInt(MediaCodec.PARAMETER_KEY_REQUEST_SYNC_FRAME, 0);
        setParameters(b);
    }

    @Override void setBitrate(long bitsPerSecond) {
        Bundle b = new Bundle();
        b.putInt(MediaCodec.PARAMETER_KEY_VIDEO_BITRATE, (int) Math.min(bitsPerSecond, Integer.MAX_VALUE));
        setParameters(b);
    }

    private void setParameters(Bundle b) {
        synchronized (codecLock) {
            if (codec == null || !running) return;
            try {
                codec.setParameters(b);
            } catch (IllegalStateException ignored) {
                // the codec is stopping
            }
        }
    }

    @Override void limitStreamSize(int width, int height) {
        limitWidth = width;
        limitHeight = height;
    }

    @Override void requestPatches(int count, int size) {
        patches.request(count, size);
    }

    @Override public void stop() {
        synchronized (this) {
            running = false;
            if (session != null) { session.close(); session = null; }
            if (camera != null) { camera.close(); camera = null; }
        }
        Thread d = drain;
        drain = null;
        if (d != null) {
            try { d.join(1000); } catch (InterruptedException ignored) { Thread.currentThread().interrupt(); }
        }
        if (patchSender != null) { patchSender.shutdownNow(); patchSender = null; }
        synchronized (codecLock) {
            if (codec != null) {
                try { codec.stop(); } catch (IllegalStateException ignored) { /* never started, or already stopped */ }
                codec.release();
                codec = null;
            }
            if (input != null) { input.release(); input = null; }
        }
        if (hrFrames != null) { hrFrames.close(); hrFrames = null; }
        if (cameraThread != null) { cameraThread.quitSafely(); cameraThread = null; }
    }
}
