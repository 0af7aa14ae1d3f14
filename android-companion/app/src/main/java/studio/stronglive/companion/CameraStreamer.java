package studio.stronglive.companion;

import android.content.Context;
import android.hardware.camera2.CameraAccessException;
import android.hardware.camera2.CameraCaptureSession;
import android.hardware.camera2.CameraCharacteristics;
import android.hardware.camera2.CameraDevice;
import android.hardware.camera2.CameraManager;
import android.hardware.camera2.CaptureRequest;
import android.media.MediaCodec;
import android.media.MediaCodecInfo;
import android.media.MediaFormat;
import android.os.Bundle;
import android.os.Handler;
import android.os.HandlerThread;
import android.view.Surface;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import studio.stronglive.companion.protocol.Client;
import studio.stronglive.companion.protocol.Message;

/**
 * Camera mode: Camera2 renders into the input surface of a MediaCodec H.264 encoder (no frame
 * copies in app code); encoded units go to the desktop with their timestamps. The encoder's
 * codec-config buffer (SPS/PPS) becomes the StreamConfig. Honours key-frame and bitrate requests.
 */
final class CameraStreamer implements Streamer {
    private final Context context;
    private final int width;
    private final int height;
    private final int fps;
    private final int bitrate;
    private HandlerThread cameraThread;
    private Handler cameraHandler;
    private MediaCodec codec;
    private Surface input;
    private CameraDevice camera;
    private CameraCaptureSession session;
    private volatile boolean running;
    private Thread drain;

    CameraStreamer(Context context, int width, int height, int fps, int bitrate) {
        this.context = context;
        this.width = width;
        this.height = height;
        this.fps = fps;
        this.bitrate = bitrate;
    }

    @Override public void start(final Client client, final Listener listener) throws IOException {
        MediaFormat format = MediaFormat.createVideoFormat("video/avc", width, height);
        format.setInteger(MediaFormat.KEY_COLOR_FORMAT, MediaCodecInfo.CodecCapabilities.COLOR_FormatSurface);
        format.setInteger(MediaFormat.KEY_BIT_RATE, bitrate);
        format.setInteger(MediaFormat.KEY_FRAME_RATE, fps);
        format.setInteger(MediaFormat.KEY_I_FRAME_INTERVAL, 1);
        codec = MediaCodec.createEncoderByType("video/avc");
        codec.configure(format, null, null, MediaCodec.CONFIGURE_FLAG_ENCODE);
        input = codec.createInputSurface();
        codec.start();
        running = true;
        cameraThread = new HandlerThread("stronglive-camera");
        cameraThread.start();
        cameraHandler = new Handler(cameraThread.getLooper());
        openCamera(listener);
        drain = new Thread(new Runnable() {
            @Override public void run() {
                drainEncoder(client, listener);
            }
        }, "stronglive-encoder");
        drain.start();
    }

    private void openCamera(final Listener listener) throws IOException {
        CameraManager manager = (CameraManager) context.getSystemService(Context.CAMERA_SERVICE);
        try {
            String chosen = null;
            for (String id : manager.getCameraIdList()) {
                Integer facing = manager.getCameraCharacteristics(id).get(CameraCharacteristics.LENS_FACING);
                if (facing != null && facing == CameraCharacteristics.LENS_FACING_BACK) {
                    chosen = id;
                    break;
                }
            }
            if (chosen == null && manager.getCameraIdList().length > 0) chosen = manager.getCameraIdList()[0];
            if (chosen == null) throw new IOException("this device has no camera");
            manager.openCamera(chosen, new CameraDevice.StateCallback() {
                @Override public void onOpened(CameraDevice device) {
                    camera = device;
                    startSession(listener);
                }
                @Override public void onDisconnected(CameraDevice device) {
                    device.close();
                    listener.onStopped("camera disconnected");
                }
                @Override public void onError(CameraDevice device, int error) {
                    device.close();
                    listener.onStopped("camera error " + error);
                }
            }, cameraHandler);
        } catch (CameraAccessException | SecurityException e) {
            throw new IOException("cannot open the camera: " + e.getMessage(), e);
        }
    }

    private void startSession(final Listener listener) {
        try {
            camera.createCaptureSession(Arrays.asList(input), new CameraCaptureSession.StateCallback() {
                @Override public void onConfigured(CameraCaptureSession s) {
                    session = s;
                    try {
                        CaptureRequest.Builder request = camera.createCaptureRequest(CameraDevice.TEMPLATE_RECORD);
                        request.addTarget(input);
                        s.setRepeatingRequest(request.build(), null, cameraHandler);
                    } catch (CameraAccessException | IllegalStateException e) {
                        listener.onStopped("camera: " + e.getMessage());
                    }
                }
                @Override public void onConfigureFailed(CameraCaptureSession s) {
                    listener.onStopped("the camera cannot produce " + width + "x" + height);
                }
            }, cameraHandler);
        } catch (CameraAccessException | IllegalStateException e) {
            listener.onStopped("camera: " + e.getMessage());
        }
    }

    private void drainEncoder(Client client, Listener listener) {
        MediaCodec.BufferInfo info = new MediaCodec.BufferInfo();
        Progress progress = new Progress();
        String reason = "stopped";
        try {
            while (running) {
                int index = codec.dequeueOutputBuffer(info, 10000);
                if (index < 0) continue;
                ByteBuffer buffer = codec.getOutputBuffer(index);
                byte[] data = new byte[info.size];
                if (buffer != null) {
                    buffer.position(info.offset);
                    buffer.get(data);
                }
                codec.releaseOutputBuffer(index, false);
                if ((info.flags & MediaCodec.BUFFER_FLAG_CODEC_CONFIG) != 0) {
                    client.send(Message.streamConfig(width, height, fps, 1, bitrate, data));
                    continue;
                }
                boolean key = (info.flags & MediaCodec.BUFFER_FLAG_KEY_FRAME) != 0;
                client.send(Message.videoUnit(info.presentationTimeUs, key, data));
                progress.sent(data.length, client, listener);
            }
        } catch (IOException e) {
            reason = "connection lost: " + e.getMessage();
        } catch (IllegalStateException e) {
            reason = "encoder stopped";
        }
        listener.onStopped(reason);
    }

    @Override public void requestKeyFrame() {
        Bundle b = new Bundle();
        b.putInt(MediaCodec.PARAMETER_KEY_REQUEST_SYNC_FRAME, 0);
        MediaCodec c = codec;
        if (c != null && running) c.setParameters(b);
    }

    @Override public void setBitrate(long bitsPerSecond) {
        Bundle b = new Bundle();
        b.putInt(MediaCodec.PARAMETER_KEY_VIDEO_BITRATE, (int) Math.min(bitsPerSecond, Integer.MAX_VALUE));
        MediaCodec c = codec;
        if (c != null && running) c.setParameters(b);
    }

    @Override public synchronized void stop() {
        running = false;
        if (session != null) { session.close(); session = null; }
        if (camera != null) { camera.close(); camera = null; }
        if (drain != null) {
            try { drain.join(500); } catch (InterruptedException ignored) { Thread.currentThread().interrupt(); }
            drain = null;
        }
        if (codec != null) {
            try { codec.stop(); } catch (IllegalStateException ignored) { /* already stopped */ }
            codec.release();
            codec = null;
        }
        if (input != null) { input.release(); input = null; }
        if (cameraThread != null) { cameraThread.quitSafely(); cameraThread = null; }
    }
}
