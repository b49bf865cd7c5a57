package io.trafficrisk.flink;

import java.nio.charset.StandardCharsets;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code GUARD_SIZE(sink, topic, k, v, max_request_size)}: {@code v}, or the job fails naming
 * the sink, the record's key and the limit when the record would exceed the producer's
 * {@code max.request.size}. The Kafka writer would otherwise fail on it inside a transaction,
 * and a failure while closing that writer has taken whole TaskManagers down. Contract
 * messages are bounded far below the limit, so this fires only on a defect or a lowered
 * limit. In SQL, so no output record makes a trip through Python for it; the size counted is
 * the UTF-8 bytes of key and value, as the producer counts them.
 */
public class GuardSize extends ScalarFunction {

    /** A record no producer of the product may send. */
    public static class SinkRecordTooLarge extends RuntimeException {
        SinkRecordTooLarge(String message) {
            super(message);
        }
    }

    public String eval(String sink, String topic, String key, String value, Integer limit) {
        String k = key == null ? "" : key;
        String v = value == null ? "" : value;
        if (4L * (k.length() + v.length()) <= limit) { // UTF-8 is at most 4 bytes a character
            return value;
        }
        long size = (long) k.getBytes(StandardCharsets.UTF_8).length
                + v.getBytes(StandardCharsets.UTF_8).length;
        if (size <= limit) {
            return value;
        }
        throw new SinkRecordTooLarge("sink " + sink + " (topic " + topic + "): record with key '"
                + k + "' is " + size + " bytes, over the producer limit max.request.size="
                + limit + " (contract/limits.py, --kafka-property)");
    }
}
