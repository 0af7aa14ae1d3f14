package studio.stronglive.companion;

import android.Manifest;
import android.app.Activity;
import android.app.AlertDialog;
import android.content.DialogInterface;
import android.net.ConnectivityManager;
import android.net.Network;
import android.net.NetworkCapabilities;
import android.content.Intent;
import android.content.SharedPreferences;
import android.content.pm.PackageManager;
import android.net.Uri;
import android.os.Build;
import android.os.Bundle;
import android.text.InputType;
import android.view.Surface;
import android.view.SurfaceHolder;
import android.view.SurfaceView;
import android.view.View;
import android.view.WindowManager;
import android.widget.Button;
import android.widget.EditText;
import android.widget.LinearLayout;
import android.widget.ScrollView;
import android.widget.TextView;
import java.io.IOException;
import java.net.Socket;
import java.security.SecureRandom;
import studio.stronglive.companion.protocol.Client;
import studio.stronglive.companion.protocol.Pairing;
import studio.stronglive.companion.session.SessionController;

/**
 * One screen: the pairing (from the desktop's QR code via the stronglive:// link, or typed in),
 * camera or file streaming with a small preview, start/stop, connection state and sent
 * fps/bitrate. Sessions are run by {@link SessionController} (plain Java, tested on the JVM):
 * nothing here touches the network. The screen stays on while streaming; the activity is locked
 * to landscape (the back camera's sensor is landscape, so the video is upright) and
 * configuration changes do not restart it; leaving the app stops the stream.
 */
public class MainActivity extends Activity {
    private static final int PICK_FILE = 1;
    private static final int CAMERA_PERMISSION = 2;

    private SharedPreferences prefs;
    private TextView pairedWith;
    private TextView status;
    private EditText code;
    private EditText size;
    private EditText bitrate;
    private SessionController sessions;
    private SurfaceView preview;
    private volatile Surface previewSurface;

    @Override protected void onCreate(Bundle saved) {
        super.onCreate(saved);
        prefs = getSharedPreferences("stronglive", MODE_PRIVATE);
        LinearLayout layout = new LinearLayout(this);
        layout.setOrientation(LinearLayout.VERTICAL);
        layout.setPadding(32, 32, 32, 32);
        pairedWith = text(layout, "");
        code = new EditText(this);
        code.setHint("stronglive://pair?... (or scan the QR code with the camera app)");
        code.setInputType(InputType.TYPE_CLASS_TEXT | InputType.TYPE_TEXT_VARIATION_URI);
        layout.addView(code);
        button(layout, "Use this code", new View.OnClickListener() {
            @Override public void onClick(View v) { pair(code.getText().toString().trim()); }
        });
        size = new EditText(this);
        size.setText(prefs.getString("size", "960x540"));
        size.setHint("stream size, e.g. 960x540");
        layout.addView(size);
        bitrate = new EditText(this);
        bitrate.setText(prefs.getString("bitrate", "4"));
        bitrate.setHint("bitrate in Mbit/s");
        bitrate.setInputType(InputType.TYPE_CLASS_NUMBER | InputType.TYPE_NUMBER_FLAG_DECIMAL);
        layout.addView(bitrate);
        button(layout, "Stream camera", new View.OnClickListener() {
            @Override public void onClick(View v) { startCamera(); }
        });
        button(layout, "Stream a video file", new View.OnClickListener() {
            @Override public void onClick(View v) {
                Intent pick = new Intent(Intent.ACTION_OPEN_DOCUMENT);
                pick.addCategory(Intent.CATEGORY_OPENABLE);
                pick.setType("video/mp4");
                startActivityForResult(pick, PICK_FILE);
            }
        });
        button(layout, "Stop", new View.OnClickListener() {
            @Override public void onClick(View v) { stopStreaming("stopped"); }
        });
        status = text(layout, "Not streaming");
        preview = new SurfaceView(this);
        preview.getHolder().addCallback(new SurfaceHolder.Callback() {
            @Override public void surfaceCreated(SurfaceHolder h) { previewSurface = h.getSurface(); }
            @Override public void surfaceChanged(SurfaceHolder h, int format, int w, int h2) {}
            @Override public void surfaceDestroyed(SurfaceHolder h) { previewSurface = null; }
        });
        layout.addView(preview, new LinearLayout.LayoutParams(480, 270));
        sessions = new SessionController(new SessionController.Connector() {
            @Override public SessionController.Link connect() throws IOException {
                String uri = prefs.getString("pairing", null);
                if (uri == null) throw new IOException("scan the desktop's QR code first");
                try {
                    return new Streamer.ClientLink(Client.connect(Pairing.parse(uri), deviceId(), Build.MODEL, onWifi()));
                } catch (IllegalArgumentException e) {
                    throw new IOException("the stored pairing is unreadable: " + e.getMessage(), e);
                }
            }
        }, new SessionController.Screen() {
            @Override public void show(String text) { MainActivity.this.show(text); }
            @Override public void streaming(final boolean on) {
                runOnUiThread(new Runnable() {
                    @Override public void run() {
                        // An unattended stream must survive the screen timeout.
                        if (on) getWindow().addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON);
                        else getWindow().clearFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON);
                    }
                });
            }
        });
        ScrollView scroll = new ScrollView(this);
        scroll.addView(layout);
        setContentView(scroll);
        showPairing();
        handleLink(getIntent());
    }

    private TextView text(LinearLayout layout, String s) {
        TextView t = new TextView(this);
        t.setText(s);
        t.setPadding(0, 16, 0, 16);
        layout.addView(t);
        return t;
    }

    private void button(LinearLayout layout, String label, View.OnClickListener onClick) {
        Button b = new Button(this);
        b.setText(label);
        b.setOnClickListener(onClick);
        layout.addView(b);
    }

    @Override protected void onNewIntent(Intent intent) {
        super.onNewIntent(intent);
        handleLink(intent);
    }

    /**
     * The stronglive://pair?... link the camera app opened us with. Any web page can open such a
     * link, so it replaces the stored desktop only when the user confirms.
     */
    private void handleLink(Intent intent) {
        Uri data = intent == null ? null : intent.getData();
        if (data == null || !"stronglive".equals(data.getScheme())) return;
        final String uri = data.toString();
        final Pairing p;
        try {
            p = Pairing.parse(uri);
        } catch (IllegalArgumentException e) {
            status.setText("That is not a usable pairing code: " + e.getMessage());
            return;
        }
        new AlertDialog.Builder(this)
                .setTitle("Pair with this desktop?")
                .setMessage(p.name + " at " + p.hosts.get(0) + ":" + p.port
                        + "\n\nOnly pair with a code your own StrongLive Studio shows.")
                .setPositiveButton("Pair", new DialogInterface.OnClickListener() {
                    @Override public void onClick(DialogInterface d, int which) { pair(uri); }
                })
                .setNegativeButton("Cancel", null)
                .show();
    }

    /**
     * Sockets to the desktop go over Wi-Fi: when mobile data is the default network (Wi-Fi
     * without internet), an unbound socket would try the desktop's LAN address over mobile data.
     */
    private Client.SocketBinder onWifi() {
        final ConnectivityManager cm = (ConnectivityManager) getSystemService(CONNECTIVITY_SERVICE);
        return new Client.SocketBinder() {
            @Override public void bind(Socket socket) throws IOException {
                if (cm == null) return;
                for (Network n : cm.getAllNetworks()) {
                    NetworkCapabilities caps = cm.getNetworkCapabilities(n);
                    if (caps != null && caps.hasTransport(NetworkCapabilities.TRANSPORT_WIFI)) {
                        n.bindSocket(socket);
                        return;
                    }
                }
            }
        };
    }

    private void pair(String uri) {
        try {
            Pairing p = Pairing.parse(uri);
            prefs.edit().putString("pairing", uri).apply();
            status.setText("Paired with " + p.name + ". Start streaming.");
        } catch (IllegalArgumentException e) {
            status.setText("That is not a usable pairing code: " + e.getMessage());
        }
        showPairing();
    }

    private void showPairing() {
        String uri = prefs.getString("pairing", null);
        if (uri == null) {
            pairedWith.setText("Not paired: scan the QR code the desktop studio shows.");
            return;
        }
        try {
            Pairing p = Pairing.parse(uri);
            pairedWith.setText("Desktop: " + p.name + " (" + p.hosts.get(0) + ":" + p.port + ")");
        } catch (IllegalArgumentException e) {
            pairedWith.setText("Stored pairing is unreadable; scan again.");
        }
    }

    /** 16 random bytes chosen once; the desktop knows this device by them. */
    private byte[] deviceId() {
        String hex = prefs.getString("device_id", null);
        byte[] id = hex == null ? null : Pairing.hex(hex);
        if (id == null || id.length != 16) {
            id = new byte[16];
            new SecureRandom().nextBytes(id);
            StringBuilder s = new StringBuilder();
            for (byte b : id) s.append(String.format("%02x", b));
            prefs.edit().putString("device_id", s.toString()).apply();
        }
        return id;
    }

    private void startCamera() {
        if (checkSelfPermission(Manifest.permission.CAMERA) != PackageManager.PERMISSION_GRANTED) {
            requestPermissions(new String[] {Manifest.permission.CAMERA}, CAMERA_PERMISSION);
            return;
        }
        String[] wh = size.getText().toString().trim().split("x");
        int w = 960;
        int h = 540;
        try {
            w = Integer.parseInt(wh[0]);
            h = Integer.parseInt(wh[1]);
        } catch (RuntimeException e) {
            status.setText("Size must look like 960x540; using 960x540.");
        }
        int bps = (int) (parseDouble(bitrate.getText().toString(), 4.0) * 1e6);
        prefs.edit().putString("size", w + "x" + h).putString("bitrate", bitrate.getText().toString()).apply();
        begin(new CameraStreamer(this, w & ~1, h & ~1, 30, bps, previewSurface));
    }

    private static double parseDouble(String s, double fallback) {
        try {
            return Double.parseDouble(s.trim());
        } catch (NumberFormatException e) {
            return fallback;
        }
    }

    @Override public void onRequestPermissionsResult(int request, String[] permissions, int[] results) {
        if (request == CAMERA_PERMISSION) {
            if (results.length > 0 && results[0] == PackageManager.PERMISSION_GRANTED) startCamera();
            else status.setText("Camera permission refused: file mode still works.");
        }
    }

    @Override protected void onActivityResult(int request, int result, Intent data) {
        if (request == PICK_FILE && result == RESULT_OK && data != null && data.getData() != null) {
            begin(new FileStreamer(this, data.getData()));
        }
    }

    /** The controller connects and streams on its worker; the UI thread only asks. */
    private void begin(Streamer next) {
        if (prefs.getString("pairing", null) == null) {
            status.setText("Scan the desktop's QR code first.");
            return;
        }
        sessions.start(next);
    }

    private void show(final String text) {
        runOnUiThread(new Runnable() {
            @Override public void run() { status.setText(text); }
        });
    }

    /** Returns at once: closing the socket and the camera happen on the controller's worker. */
    private void stopStreaming(String reason) {
        sessions.stop(reason);
    }

    /** Leaving the app (or the screen turning off) stops the stream and frees the camera. */
    @Override protected void onStop() {
        stopStreaming("app in background");
        super.onStop();
    }

    @Override protected void onDestroy() {
        sessions.shutdown();
        super.onDestroy();
    }
}
