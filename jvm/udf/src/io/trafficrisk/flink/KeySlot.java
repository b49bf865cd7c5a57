package io.trafficrisk.flink;

import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code KEY_SLOT(camera_id, slots)}: the pattern operator's key slot of a camera, CRC-32 of
 * its UTF-8 bytes modulo {@code slots}, the same number as Python's
 * {@code udfs.patterns.slots.slot_of} (zlib's CRC-32), so SQL can batch a slot's frames.
 */
public class KeySlot extends ScalarFunction {

    public Integer eval(String cameraId, Integer slots) {
        if (cameraId == null || slots == null || slots < 1) {
            return null;
        }
        CRC32 crc = new CRC32();
        crc.update(cameraId.getBytes(StandardCharsets.UTF_8));
        return (int) (crc.getValue() % slots);
    }
}
