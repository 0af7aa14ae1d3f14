package studio.stronglive.companion.protocol;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/** Splits an H.264 Annex-B byte stream into access units (what a file sender and the tests need). */
public final class AnnexB {
    private AnnexB() {}

    /** NAL unit type of the unit starting at {@code start} (after its start code). */
    static int nalType(byte[] data, int start) {
        return data[start] & 0x1f;
    }

    /**
     * Access units of a raw .h264 stream: a new unit starts at an access unit delimiter, SPS, or a
     * slice whose first_mb_in_slice is 0 after a slice was seen. SPS/PPS go with the next picture.
     */
    public static List<byte[]> accessUnits(byte[] stream) {
        List<int[]> nals = new ArrayList<int[]>(); // {start of start code, start of payload}
        for (int i = 0; i + 3 <= stream.length; i++) {
            if (stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1) {
                int codeStart = (i > 0 && stream[i - 1] == 0) ? i - 1 : i;
                nals.add(new int[] {codeStart, i + 3});
                i += 2;
            }
        }
        List<byte[]> units = new ArrayList<byte[]>();
        ByteArrayOutputStream current = new ByteArrayOutputStream();
        boolean hasSlice = false;
        for (int k = 0; k < nals.size(); k++) {
            int start = nals.get(k)[0];
            int payload = nals.get(k)[1];
            int end = k + 1 < nals.size() ? nals.get(k + 1)[0] : stream.length;
            if (payload >= end) continue;
            int type = nalType(stream, payload);
            boolean slice = type == 1 || type == 5;
            boolean firstMb = slice && payload + 1 < end && (stream[payload + 1] & 0x80) != 0;
            boolean startsNew = hasSlice && (type == 9 || type == 7 || type == 8 || (slice && firstMb));
            if (startsNew) {
                units.add(current.toByteArray());
                current.reset();
                hasSlice = false;
            }
            current.write(stream, start, end - start);
            hasSlice |= slice;
        }
        if (current.size() > 0 && hasSlice) units.add(current.toByteArray());
        return units;
    }

    /** True when the unit holds an IDR slice. */
    public static boolean isKey(byte[] unit) {
        for (int i = 0; i + 3 < unit.length; i++) {
            if (unit[i] == 0 && unit[i + 1] == 0 && unit[i + 2] == 1 && (unit[i + 3] & 0x1f) == 5) return true;
        }
        return false;
    }
}
