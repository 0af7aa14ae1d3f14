package studio.stronglive.companion.session;

/**
 * B-frames in a file: the protocol carries units in decode order without reordering, so a file
 * whose presentation times go backwards in decode order cannot be streamed as it is.
 */
public final class BFrames {
    private BFrames() {}

    /** True when some sample's presentation time is earlier than one decoded before it. */
    public static boolean present(long[] ptsInDecodeOrder) {
        long highest = Long.MIN_VALUE;
        for (long pts : ptsInDecodeOrder) {
            if (pts < highest) return true;
            highest = Math.max(highest, pts);
        }
        return false;
    }
}
