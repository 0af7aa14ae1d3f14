package studio.stronglive.companion.session;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotSame;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.Test;

/** The companion's session control with fake camera/file sources and links (no Android here). */
public class SessionControllerTest {
    static class FakeLink implements SessionController.Link {
        final CountDownLatch closed = new CountDownLatch(1);
        volatile Thread closedOn;

        @Override public void close() {
            closedOn = Thread.currentThread();
            closed.countDown();
        }
    }

    static final class FakeSource implements SessionController.Source {
        final CountDownLatch stopped = new CountDownLatch(1);
        volatile SessionController.Events events;
        volatile IOException failOnStart;

        @Override public void prepare() {}

        @Override public void start(SessionController.Link link, SessionController.Events e) throws IOException {
            if (failOnStart != null) throw failOnStart;
            events = e;
        }

        @Override public void stop() {
            stopped.countDown();
        }

        @Override public String describe() {
            return "fake";
        }
    }

    static final class Screen implements SessionController.Screen {
        final List<String> shown = Collections.synchronizedList(new ArrayList<String>());
        volatile boolean streaming;

        @Override public void show(String status) {
            shown.add(status);
        }

        @Override public void streaming(boolean on) {
            streaming = on;
        }

        boolean waitFor(String prefix) throws InterruptedException {
            for (int i = 0; i < 200; i++) {
                synchronized (shown) {
                    for (String s : shown) if (s.startsWith(prefix)) return true;
                }
                Thread.sleep(10);
            }
            return false;
        }
    }

    /** A connector handing out the given links in turn. */
    static SessionController.Connector links(final FakeLink... links) {
        return new SessionController.Connector() {
            int next;

            @Override public synchronized SessionController.Link connect() {
                return links[next++];
            }
        };
    }

    static void awaitStreaming(SessionController c, Screen screen) throws InterruptedException {
        assertTrue(screen.waitFor("Streaming fake"));
    }

    @Test
    public void stopClosesTheSocketOnTheWorkerNeverOnTheCallingThread() throws Exception {
        FakeLink link = new FakeLink();
        Screen screen = new Screen();
        SessionController c = new SessionController(links(link), screen);
        FakeSource source = new FakeSource();
        c.start(source);
        awaitStreaming(c, screen);
        c.stop("stopped");
        assertTrue(link.closed.await(2, TimeUnit.SECONDS));
        assertTrue(source.stopped.await(2, TimeUnit.SECONDS));
        assertNotSame(Thread.currentThread(), link.closedOn);
        assertTrue(screen.waitFor("Not streaming (stopped)"));
        assertFalse(screen.streaming);
    }

    @Test
    public void aStuckCloseDoesNotBlockStop() throws Exception {
        final CountDownLatch release = new CountDownLatch(1);
        FakeLink stuck = new FakeLink() {
            @Override public void close() {
                super.close();
                try {
                    release.await(); // a writer holding the socket
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        Screen screen = new Screen();
        SessionController c = new SessionController(links(stuck), screen);
        c.start(new FakeSource());
        awaitStreaming(c, screen);
        long t0 = System.nanoTime();
        c.stop("stopped");
        c.stop("again");
        assertTrue("stop returned at once", System.nanoTime() - t0 < 100000000L);
        assertEquals(0, c.currentSession());
        release.countDown();
    }

    @Test
    public void callbacksFromAnOldSessionDoNotStopTheNewOne() throws Exception {
        FakeLink first = new FakeLink();
        FakeLink second = new FakeLink();
        Screen screen = new Screen();
        SessionController c = new SessionController(links(first, second), screen);
        FakeSource old = new FakeSource();
        c.start(old);
        awaitStreaming(c, screen);
        SessionController.Events oldEvents = old.events;
        FakeSource fresh = new FakeSource();
        c.start(fresh);
        assertTrue(first.closed.await(2, TimeUnit.SECONDS));
        for (int i = 0; i < 100 && fresh.events == null; i++) Thread.sleep(10);
        long session = c.currentSession();
        oldEvents.stopped("camera disconnected"); // the old camera's late error
        oldEvents.stats("old stats");
        assertEquals(session, c.currentSession());
        assertFalse(second.closed.await(200, TimeUnit.MILLISECONDS));
        assertFalse(screen.shown.contains("old stats"));
        fresh.events.stopped("connection lost");
        assertTrue(second.closed.await(2, TimeUnit.SECONDS));
    }

    @Test
    public void aFailedStartClosesTheSocketItOpened() throws Exception {
        FakeLink link = new FakeLink();
        Screen screen = new Screen();
        SessionController c = new SessionController(links(link), screen);
        FakeSource source = new FakeSource();
        source.failOnStart = new IOException("the file has no H.264 video track");
        c.start(source);
        assertTrue(link.closed.await(2, TimeUnit.SECONDS));
        assertTrue(source.stopped.await(2, TimeUnit.SECONDS));
        assertTrue(screen.waitFor("Not connected: the file has no H.264 video track"));
        assertEquals(0, c.currentSession());
    }

    @Test
    public void aStopWhileConnectingLeavesNothingOpen() throws Exception {
        final CountDownLatch connecting = new CountDownLatch(1);
        final CountDownLatch proceed = new CountDownLatch(1);
        final FakeLink link = new FakeLink();
        Screen screen = new Screen();
        SessionController c = new SessionController(new SessionController.Connector() {
            @Override public SessionController.Link connect() {
                connecting.countDown();
                try {
                    proceed.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return link;
            }
        }, screen);
        FakeSource source = new FakeSource();
        c.start(source);
        assertTrue(connecting.await(2, TimeUnit.SECONDS));
        c.stop("stopped");
        proceed.countDown();
        assertTrue(link.closed.await(2, TimeUnit.SECONDS));
        assertTrue(source.stopped.await(2, TimeUnit.SECONDS));
        assertTrue(source.events == null);
        assertFalse(screen.streaming);
    }
}
