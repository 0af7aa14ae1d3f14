package studio.stronglive.companion.patches;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.zip.CRC32;
import java.util.zip.DeflaterOutputStream;

/** Minimal PNG encoder for 8-bit RGB patches (plain Java: the same on the phone and the JVM). */
public final class Png {
    private Png() {}

    /** `rgb`: width * height * 3 bytes, rows top to bottom. */
    public static byte[] encodeRgb(int width, int height, byte[] rgb) {
        try {
            ByteArrayOutputStream raw = new ByteArrayOutputStream();
            DeflaterOutputStream z = new DeflaterOutputStream(raw);
            for (int row = 0; row < height; row++) {
                z.write(0); // filter: none
                z.write(rgb, row * width * 3, width * 3);
            }
            z.close();
            ByteArrayOutputStream png = new ByteArrayOutputStream();
            png.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
            ByteArrayOutputStream header = new ByteArrayOutputStream();
            DataOutputStream h = new DataOutputStream(header);
            h.writeInt(width);
            h.writeInt(height);
            h.write(new byte[] {8, 2, 0, 0, 0}); // 8-bit, RGB, deflate, no filter set, no interlace
            chunk(png, "IHDR", header.toByteArray());
            chunk(png, "IDAT", raw.toByteArray());
            chunk(png, "IEND", new byte[0]);
            return png.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("in-memory PNG encoding failed", e);
        }
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) throws IOException {
        DataOutputStream d = new DataOutputStream(out);
        byte[] name = type.getBytes("US-ASCII");
        d.writeInt(data.length);
        d.write(name);
        d.write(data);
        CRC32 crc = new CRC32();
        crc.update(name);
        crc.update(data);
        d.writeInt((int) crc.getValue());
    }
}
