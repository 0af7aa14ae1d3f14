package studio.stronglive.companion.patches;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import javax.imageio.ImageIO;
import org.junit.Test;

public class PatchesTest {
    @Test
    public void requestsReplaceEachOtherAndPatchesComeAtMostFiveASecond() {
        PatchPlanner p = new PatchPlanner();
        assertEquals(0, p.due(0));
        p.request(3, 98);
        assertEquals("side on the x4 grid", 96, p.due(0));
        p.cut(0);
        assertEquals(0, p.due(PatchPlanner.MIN_INTERVAL_NS - 1));
        assertEquals(96, p.due(PatchPlanner.MIN_INTERVAL_NS));
        p.cut(PatchPlanner.MIN_INTERVAL_NS);
        p.request(1, 64);
        assertEquals(1, p.remaining());
        p.cut(2 * PatchPlanner.MIN_INTERVAL_NS);
        assertEquals(0, p.due(10 * PatchPlanner.MIN_INTERVAL_NS));
        p.request(0, 64);
        assertEquals(0, p.due(20 * PatchPlanner.MIN_INTERVAL_NS));
    }

    @Test
    public void theMostDetailedSquareIsFoundAndPositionsAreOnTheGrid() {
        // Flat frame with a checkerboard at (200..264, 100..164).
        PatchPlanner.LumaSource luma = new PatchPlanner.LumaSource() {
            @Override public int at(int x, int y) {
                boolean busy = x >= 200 && x < 264 && y >= 100 && y < 164;
                return busy && ((x / 2 + y / 2) % 2 == 0) ? 230 : 60;
            }
        };
        int[] at = PatchPlanner.position(640, 360, 64, 0, luma);
        assertTrue(at[0] + "," + at[1], Math.abs(at[0] - 200) <= 32 && Math.abs(at[1] - 100) <= 32);
        for (long ordinal = 0; ordinal < 30; ordinal++) {
            int[] p = PatchPlanner.position(641, 361, 64, ordinal, luma);
            assertEquals(0, p[0] % 4);
            assertEquals(0, p[1] % 4);
            assertTrue(p[0] + 64 <= 641 && p[1] + 64 <= 361);
        }
    }

    private static YuvCrop.Plane plane(final byte[] data, final int rowStride, final int pixelStride) {
        return new YuvCrop.Plane() {
            @Override public int get(int i) { return data[i] & 0xff; }
            @Override public int rowStride() { return rowStride; }
            @Override public int pixelStride() { return pixelStride; }
        };
    }

    @Test
    public void aFullRangeYuvCropBecomesAPngWithTheRightColours() throws Exception {
        int w = 16;
        int h = 8;
        byte[] y = new byte[w * h];
        byte[] uv = new byte[w * h / 2]; // interleaved (pixel stride 2), as many phones deliver
        for (int i = 0; i < y.length; i++) y[i] = (byte) 76; // pure red in JFIF: Y 76, Cb 85, Cr 255
        for (int i = 0; i < uv.length; i += 2) {
            uv[i] = (byte) 85;
            uv[i + 1] = (byte) 255;
        }
        byte[] v = new byte[uv.length];
        System.arraycopy(uv, 1, v, 0, uv.length - 1);
        byte[] rgb = YuvCrop.rgb(plane(y, w, 1), plane(uv, w, 2), plane(v, w, 2), 4, 2, 4);
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(Png.encodeRgb(4, 4, rgb)));
        assertEquals(4, img.getWidth());
        assertEquals(4, img.getHeight());
        int pixel = img.getRGB(1, 1);
        assertTrue(Integer.toHexString(pixel), ((pixel >> 16) & 0xff) >= 250);
        assertTrue(Integer.toHexString(pixel), ((pixel >> 8) & 0xff) <= 3 && (pixel & 0xff) <= 3);
    }
}
