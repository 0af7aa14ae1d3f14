package studio.stronglive.companion.protocol;

import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.Test;

/** A desktop that stops reading must not hold up Stop: close() releases a writer stuck on it. */
public class ClientCloseTest {
    @Test
    public void closeReturnsAtOnceAndReleasesAWriterStuckOnAFullSocket() throws Exception {
        ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        Socket socket = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
        Socket peer = server.accept(); // never reads
        final Client client = Client.overSocket(socket);
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
        peer.close();
        server.close();
    }
}
