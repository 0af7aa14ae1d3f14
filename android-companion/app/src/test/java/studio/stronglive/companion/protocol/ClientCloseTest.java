package studio.stronglive.companion.protocol;

import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.Test;

/**
 * A desktop that stops reading must not hold up Stop: close() releases a writer stuck on it.
 * The desktop is {@link FakeDesktop}: a real v2 handshake, then it never reads.
 */
public class ClientCloseTest {
    @Test
    public void closeReturnsAtOnceAndReleasesAWriterStuckOnAFullSocket() throws Exception {
        FakeDesktop desktop = new FakeDesktop();
        final Client client = desktop.connectPhone(); // the desktop never reads after the handshake
        final AtomicLong sent = new AtomicLong();
        final CountDownLatch writerDone = new CountDownLatch(1);
        final IOException[] failure = {null};
        Thread writer = new Thread(new Runnable() {
            @Override public void run() {
                byte[] unit = Message.videoUnit(0, true, new byte[64 * 1024]);
                try {
                    while (true) {
                        client.send(unit);
                        sent.incrementAndGet();
                    }
                } catch (IOException e) {
                    failure[0] = e;
                }
                writerDone.countDown();
            }
        });
        writer.start();
        long before;
        do { // until the socket buffers are full and the writer is stuck
            before = sent.get();
            Thread.sleep(300);
        } while (sent.get() != before);
        long t0 = System.nanoTime();
        client.close();
        assertTrue("close took too long", System.nanoTime() - t0 < 500000000L);
        assertTrue("the stuck writer was released", writerDone.await(2, TimeUnit.SECONDS));
        assertTrue(failure[0] != null);
        desktop.close();
    }

    /** A desktop that hangs (stops reading) is noticed: the blocked write fails after the timeout. */
    @Test
    public void aWriteBlockedLongerThanTheTimeoutGivesUpTheConnection() throws Exception {
        FakeDesktop desktop = new FakeDesktop();
        Client client = desktop.connectPhone(); // hung: never reads after the handshake
        client.setWriteTimeoutMs(500);
        byte[] unit = Message.videoUnit(0, true, new byte[64 * 1024]);
        long t0 = System.nanoTime();
        try {
            while (System.nanoTime() - t0 < 10000000000L) client.send(unit);
            fail("writes to a hung desktop went on for 10 s");
        } catch (IOException expected) {
            // the watchdog closed the socket
        }
        long took = (System.nanoTime() - t0) / 1000000;
        assertTrue("gave up after " + took + " ms", took < 3000);
        desktop.close();
    }
}
