package io.trafficrisk.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * The top-level {@code captured_at_ms} of a detection event when it is a plausible clock
 * reading, else null: the source's event time, which drives the watermark.
 *
 * <p>A time more than {@code maxFutureMs} ahead of this machine's clock or more than
 * {@code maxPastMs} behind it is null, so a camera whose clock jumped to 2099 or back to 1970
 * cannot move the watermark (the job dead-letters such events with reason code {@code clock}).
 * Streams over the tokens and skips nested values, so it costs a fraction of a parse; the
 * last occurrence of a duplicated key wins, as in the contract's parser.
 */
public class EventTimeMs extends ScalarFunction {

    private static final JsonFactory FACTORY = new JsonFactory();

    /**
     * The planner evaluates the source's {@code ts} column twice per record: in the watermark
     * generator pushed into the source and again in the first projection, on the same row
     * object (object reuse) and so the same payload array; the scan was ~13% of a
     * TaskManager's samples. The last array scanned, per task thread, answers the second
     * call. Kafka hands every record a fresh array, so identity means the same bytes.
     */
    private static final ThreadLocal<Scanned> LAST = ThreadLocal.withInitial(Scanned::new);

    private static final class Scanned {
        byte[] payload;
        Long capturedAt;
    }

    public Long eval(byte[] payload, long maxFutureMs, long maxPastMs) {
        Scanned last = LAST.get();
        Long capturedAt;
        if (payload != null && payload == last.payload) {
            capturedAt = last.capturedAt;
        } else {
            capturedAt = capturedAt(payload);
            last.payload = payload;
            last.capturedAt = capturedAt;
        }
        if (capturedAt == null) {
            return null;
        }
        long now = System.currentTimeMillis();
        boolean plausible = capturedAt <= now + maxFutureMs && capturedAt >= now - maxPastMs;
        return plausible ? capturedAt : null;
    }

    @Override
    public boolean isDeterministic() {
        return false; // reads the wall clock
    }

    private static Long capturedAt(byte[] payload) {
        if (payload == null) {
            return null;
        }
        Long found = null;
        try (JsonParser parser = FACTORY.createParser(payload)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String field = parser.currentName();
                JsonToken value = parser.nextToken();
                if ("captured_at_ms".equals(field)) {
                    found = value == JsonToken.VALUE_NUMBER_INT
                            && parser.getNumberType() != JsonParser.NumberType.BIG_INTEGER
                            && parser.getLongValue() >= 0 ? parser.getLongValue() : null;
                }
                parser.skipChildren();
            }
        } catch (Exception e) {
            return null;
        }
        return found;
    }
}
