package studio.stronglive.companion.patches;

/**
 * When and where HR patches go, as the desktop asks with PatchRequest: `count` more patches of
 * `size` pixels (each request replaces the last), at most 5 a second, mostly the most detailed
 * square of the frame and every third one at a pseudo-random place so flat regions are not
 * ignored; positions and sides on the x4 grid so the desktop's LR crop is exact.
 */
public final class PatchPlanner {
    /** At most one patch per this many nanoseconds (5 a second). */
    public static final long MIN_INTERVAL_NS = 200000000L;
    /** Patches are placed and sized on this grid (the x4 scale). */
    public static final int GRID = 4;

    private int remaining;
    private int size;
    private long lastNs;
    private boolean sentAny;
    private long ordinal;

    /** The desktop's PatchRequest: `count` more of `size` x `size`. */
    public synchronized void request(int count, int size) {
        this.remaining = Math.max(0, count);
        this.size = size & ~(GRID - 1);
    }

    /** The side of the patch to cut now, or 0 when none is due. */
    public synchronized int due(long nowNs) {
        if (remaining == 0 || size == 0) return 0;
        if (sentAny && nowNs - lastNs < MIN_INTERVAL_NS) return 0;
        return size;
    }

    /** A patch was cut at `nowNs` (it uses up one of the request). */
    public synchronized long cut(long nowNs) {
        remaining = Math.max(0, remaining - 1);
        lastNs = nowNs;
        sentAny = true;
        return ordinal++;
    }

    public synchronized int remaining() {
        return remaining;
    }

    /**
     * Where the `ordinal`-th patch of `side` goes in a `width` x `height` frame whose luma is
     * `luma` (row stride `stride`): {x, y} on the grid.
     */
    public static int[] position(int width, int height, int side, long ordinal, LumaSource luma) {
        int x;
        int y;
        if (ordinal % 3 == 2) {
            long r = (ordinal + 1) * 0x9E3779B97F4A7C15L;
            x = (int) ((r >>> 16) % (width - side + 1));
            y = (int) ((r >>> 40) % (height - side + 1));
        } else {
            int[] best = mostDetailed(width, height, side, luma);
            x = best[0];
            y = best[1];
        }
        return new int[] {x & ~(GRID - 1), y & ~(GRID - 1)};
    }

    /** Luma samples of a frame (Android's Image planes, or an array in tests). */
    public interface LumaSource {
        int at(int x, int y);
    }

    /** The square with the most horizontal + vertical luma change, on a half-side grid. */
    static int[] mostDetailed(int width, int height, int side, LumaSource luma) {
        int step = Math.max(GRID, side / 2);
        int sample = Math.max(1, side / 16);
        long bestScore = -1;
        int[] best = {0, 0};
        for (int y = 0; y + side <= height; y += step) {
            for (int x = 0; x + side <= width; x += step) {
                long score = 0;
                for (int j = y; j + sample < y + side; j += sample) {
                    for (int i = x; i + sample < x + side; i += sample) {
                        int c = luma.at(i, j);
                        score += Math.abs(c - luma.at(i + sample, j)) + Math.abs(c - luma.at(i, j + sample));
                    }
                }
                if (score > bestScore) {
                    bestScore = score;
                    best = new int[] {x, y};
                }
            }
        }
        return best;
    }
}
