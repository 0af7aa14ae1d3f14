package studio.stronglive.companion.session;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.Test;

public class SizesTest {
    private static List<int[]> sizes(int... wh) {
        int[][] out = new int[wh.length / 2][];
        for (int i = 0; i < out.length; i++) out[i] = new int[] {wh[2 * i], wh[2 * i + 1]};
        return Arrays.asList(out);
    }

    @Test
    public void theNearestSupportedSizeKeepsTheAspect() {
        List<int[]> encoder = sizes(1920, 1080, 1280, 720, 960, 720, 640, 480, 176, 144);
        assertArrayEquals(new int[] {1280, 720}, StreamSizes.nearest(encoder, 960, 540));
        assertArrayEquals(new int[] {640, 480}, StreamSizes.nearest(encoder, 600, 450));
        assertArrayEquals(new int[] {1920, 1080}, StreamSizes.nearest(encoder, 3840, 2160));
    }

    @Test
    public void patchesNeedAYuvOutputOfFourTimesTheStream() {
        List<int[]> yuv = sizes(3840, 2160, 1920, 1080, 640, 480);
        assertArrayEquals(new int[] {3840, 2160}, StreamSizes.patchSource(yuv, new int[] {960, 540}));
        assertNull(StreamSizes.patchSource(yuv, new int[] {1280, 720}));
    }

    @Test
    public void bFramesShowAsPresentationTimesGoingBack() {
        assertFalse(BFrames.present(new long[] {0, 33, 66, 100}));
        assertTrue(BFrames.present(new long[] {0, 100, 33, 66}));
    }
}
