package studio.stronglive.companion.session;

import java.util.List;

/**
 * Sizes the camera can really give. Camera2 only streams into an encoder at a size from
 * `getOutputSizes(MediaCodec.class)`; HR patches need a second YUV output at exactly four times
 * the stream size (the desktop pairs a patch at (x, y) with its LR crop at (x/4, y/4)).
 */
public final class StreamSizes {
    private StreamSizes() {}

    /** The supported {w, h} nearest to the wanted one: same aspect first, then closest area. */
    public static int[] nearest(List<int[]> supported, int wantW, int wantH) {
        if (supported.isEmpty()) throw new IllegalArgumentException("the camera lists no encoder sizes");
        int[] best = null;
        double bestCost = Double.MAX_VALUE;
        double wantAspect = (double) wantW / wantH;
        for (int[] s : supported) {
            if (s[0] % 2 != 0 || s[1] % 2 != 0) continue;
            double aspect = Math.abs(Math.log(((double) s[0] / s[1]) / wantAspect));
            double area = Math.abs(Math.log((double) s[0] * s[1] / ((double) wantW * wantH)));
            double cost = aspect * 10 + area;
            if (cost < bestCost) {
                bestCost = cost;
                best = s;
            }
        }
        if (best == null) throw new IllegalArgumentException("the camera lists no even encoder size");
        return new int[] {best[0], best[1]};
    }

    /** The HR size for patches of a `stream` stream: four times it when supported, else null. */
    public static int[] patchSource(List<int[]> yuvSizes, int[] stream) {
        for (int[] s : yuvSizes) {
            if (s[0] == stream[0] * 4 && s[1] == stream[1] * 4) return new int[] {s[0], s[1]};
        }
        return null;
    }
}
