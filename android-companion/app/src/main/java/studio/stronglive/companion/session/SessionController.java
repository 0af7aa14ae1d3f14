package studio.stronglive.companion.session;

import java.io.IOException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;

/**
 * Session control out of the Activity, in plain Java so the JVM tests can drive it: every start
 * gets an identity; callbacks from an older session (a late camera error, a feedback thread
 * noticing the closed socket) are ignored; connecting, closing and saying bye happen on one
 * worker thread, never on the caller's (Android's UI thread may not touch the network); a stop
 * while connecting, or a start that fails half-way, closes whatever was opened.
 */
public final class SessionController {
    /** A connection to the desktop (the protocol Client in the app, fakes in tests). */
    public interface Link {
        /** Closes the socket; a writer blocked on it is released. Called on the worker. */
        void close();
    }

    /** Opens a connection; called on the worker thread. */
    public interface Connector {
        Link connect() throws IOException;
    }

    /** What streams over a link: the camera or a file. */
    public interface Source {
        /** Opens what can be opened before connecting (the file, the codec); throws with why. */
        void prepare() throws IOException;

        /** Starts streaming; events come back through `events` (any thread). */
        void start(Link link, Events events) throws IOException;

        /** Stops and releases everything; safe to call twice. Called on the worker. */
        void stop();

        /** What streams, once prepared (e.g. "camera 1280x720, patches from 5120x2880"). */
        String describe();
    }

    /** What a running session reports; stale reports (an older session's) are ignored. */
    public interface Events {
        void stats(String text);

        void stopped(String reason);
    }

    /** The screen's side; called on the worker or a source's thread (post to the UI thread). */
    public interface Screen {
        void show(String status);

        /** Streaming: keep the screen on. */
        void streaming(boolean on);
    }

    private final Connector connector;
    private final Screen screen;
    private final ExecutorService worker;
    /** Identity of the current session; 0 = none. Guarded by `this`. */
    private long current;
    private long next = 1;
    private Source source;
    private Link link;

    public SessionController(Connector connector, Screen screen) {
        this.connector = connector;
        this.screen = screen;
        this.worker = Executors.newSingleThreadExecutor(new ThreadFactory() {
            @Override public Thread newThread(Runnable r) {
                Thread t = new Thread(r, "stronglive-session");
                t.setDaemon(true);
                return t;
            }
        });
    }

    /** Stops the current session (if any) and starts streaming `next` in a new one. */
    public void start(final Source nextSource) {
        final long id;
        synchronized (this) {
            stopLocked("replaced by a new stream");
            id = this.next++;
            current = id;
            source = nextSource;
        }
        screen.show("Connecting...");
        worker.execute(new Runnable() {
            @Override public void run() {
                connectAndStart(id, nextSource);
            }
        });
    }

    private void connectAndStart(long id, Source s) {
        if (!isCurrent(id)) return;
        Link opened = null;
        try {
            s.prepare();
            opened = connector.connect();
            synchronized (this) {
                if (current != id) {
                    // Stopped (or replaced) while connecting: nothing of this session may stay open.
                    opened.close();
                    s.stop();
                    return;
                }
                link = opened;
            }
            s.start(opened, eventsOf(id));
            if (isCurrent(id)) {
                screen.streaming(true);
                screen.show("Streaming " + s.describe());
            }
        } catch (IOException | RuntimeException e) {
            s.stop();
            if (opened != null) opened.close();
            synchronized (this) {
                if (current == id) {
                    current = 0;
                    source = null;
                    link = null;
                } else {
                    return;
                }
            }
            screen.streaming(false);
            screen.show("Not connected: " + e.getMessage());
        }
    }

    private synchronized boolean isCurrent(long id) {
        return current == id;
    }

    private Events eventsOf(final long id) {
        return new Events() {
            @Override public void stats(String text) {
                if (isCurrent(id)) screen.show(text);
            }

            @Override public void stopped(String reason) {
                stopSession(id, reason);
            }
        };
    }

    /** Stops whatever streams now; returns at once (the closing happens on the worker). */
    public void stop(String reason) {
        synchronized (this) {
            if (current == 0) return;
            stopLocked(reason);
        }
    }

    private void stopSession(long id, String reason) {
        synchronized (this) {
            if (current != id) return; // an older session's late news
            stopLocked(reason);
        }
    }

    /** Hands the current session's source and link to the worker to close. Holds `this`. */
    private void stopLocked(final String reason) {
        if (current == 0) return;
        final Source s = source;
        final Link l = link;
        current = 0;
        source = null;
        link = null;
        worker.execute(new Runnable() {
            @Override public void run() {
                // The socket first: a writer stuck on it is released before the source waits for it.
                if (l != null) l.close();
                if (s != null) s.stop();
                synchronized (SessionController.this) {
                    if (current != 0) return; // a new session has started meanwhile
                }
                screen.streaming(false);
                screen.show("Not streaming (" + reason + ")");
            }
        });
    }

    /** The current session's identity (0: none), for tests and logs. */
    public synchronized long currentSession() {
        return current;
    }

    /** Stops and ends the worker (the activity is going away). */
    public void shutdown() {
        stop("app closed");
        worker.shutdown();
    }
}
