package studio.stronglive.companion.patches;

/**
 * A square of a YUV 4:2:0 camera frame as RGB. Android's YUV_420_888 camera images are BT.601
 * full range (JFIF); planes come with their row and pixel strides (chroma may be interleaved).
 */
public final class YuvCrop {
    private YuvCrop() {}

    /** Plane access without copying a whole frame (Android's Image.Plane, arrays in tests). */
    public interface Plane {
        int get(int index);

        int rowStride();

        int pixelStride();
    }

    /** RGB bytes (side * side * 3) of the square at (x, y); x and y even. */
    public static byte[] rgb(Plane y, Plane u, Plane v, int x, int yTop, int side) {
        byte[] out = new byte[side * side * 3];
        int o = 0;
        for (int row = yTop; row < yTop + side; row++) {
            for (int col = x; col < x + side; col++) {
                int luma = y.get(row * y.rowStride() + col * y.pixelStride());
                int cu = u.get((row / 2) * u.rowStride() + (col / 2) * u.pixelStride()) - 128;
                int cv = v.get((row / 2) * v.rowStride() + (col / 2) * v.pixelStride()) - 128;
                out[o++] = clamp(luma + 1.402 * cv);
                out[o++] = clamp(luma - 0.344136 * cu - 0.714136 * cv);
                out[o++] = clamp(luma + 1.772 * cu);
            }
        }
        return out;
    }

    private static byte clamp(double value) {
        long r = Math.round(value);
        return (byte) (r < 0 ? 0 : r > 255 ? 255 : r);
    }
}
