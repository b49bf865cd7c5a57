package io.trafficrisk.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * The top-level {@code captured_at_ms} of a detection event, or null: the source's event
 * time. Streams over the tokens and skips nested values, so it costs a fraction of a parse.
 */
public class EventTimeMs extends ScalarFunction {

    private static final JsonFactory FACTORY = new JsonFactory();

    public Long eval(byte[] payload) {
        if (payload == null) {
            return null;
        }
        try (JsonParser parser = FACTORY.createParser(payload)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String field = parser.currentName();
                JsonToken value = parser.nextToken();
                if ("captured_at_ms".equals(field)) {
                    return value == JsonToken.VALUE_NUMBER_INT && parser.getLongValue() >= 0
                            ? parser.getLongValue()
                            : null;
                }
                parser.skipChildren();
            }
        } catch (Exception e) {
            return null;
        }
        return null;
    }
}
