package io.trafficrisk.flink;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadConstraints;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * One record value read the way the contract reads JSON, then checked against a topic's
 * schema: shared by every input check ({@link ParseDetection}, {@link ParseSignal}) so each
 * topic rejects the same shapes with the same reason codes ({@code null_value}, {@code parse},
 * {@code contract}).
 */
final class ContractJson {

    /**
     * JSON as the contract reads it: the last of duplicate keys wins (as in pydantic and
     * Python's json), nothing may follow the document, and NaN/Infinity are not numbers.
     */
    private static final ObjectMapper MAPPER = JsonMapper.builder(
                    JsonFactory.builder()
                            // events are size-capped anyway; Python reads any number length
                            .streamReadConstraints(StreamReadConstraints.builder()
                                    .maxNumberLength(Integer.MAX_VALUE).build())
                            .build())
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .disable(StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION)
            .build();

    /** A checked record: {@code doc} when accepted, else {@code error} and its {@code code}. */
    record Checked(JsonNode doc, String error, String code) {
        boolean accepted() {
            return error == null;
        }
    }

    private ContractJson() {}

    /** Parse and check one record value; never throws for bad input. */
    static Checked check(byte[] payload, ContractSchema schema) {
        if (payload == null) {
            return new Checked(null, "null value: the record has no value (a tombstone)",
                    "null_value");
        }
        String encoding = encodingError(payload);
        if (encoding != null) {
            return new Checked(null, encoding, "parse");
        }
        JsonNode doc;
        try {
            doc = MAPPER.readTree(payload);
        } catch (Exception e) {
            return new Checked(null, "parse: not valid JSON", "parse");
        }
        if (doc == null || doc.isMissingNode()) {
            return new Checked(null, "parse: empty message", "parse");
        }
        String violation = schema.validate(doc);
        return violation != null
                ? new Checked(null, violation, "contract")
                : new Checked(doc, null, null);
    }

    /**
     * JSON text is UTF-8 without a byte order mark (RFC 8259). Jackson skips a BOM and lets
     * some invalid sequences through (code points over U+10FFFF); Python refuses both.
     */
    private static String encodingError(byte[] payload) {
        if (payload.length >= 3 && payload[0] == (byte) 0xEF && payload[1] == (byte) 0xBB
                && payload[2] == (byte) 0xBF) {
            return "parse: not valid JSON (starts with a byte order mark)";
        }
        for (byte b : payload) {
            if (b < 0) { // not all ASCII: check the whole text strictly
                try {
                    StandardCharsets.UTF_8.newDecoder()
                            .onMalformedInput(CodingErrorAction.REPORT)
                            .onUnmappableCharacter(CodingErrorAction.REPORT)
                            .decode(ByteBuffer.wrap(payload));
                    return null;
                } catch (CharacterCodingException e) {
                    return "parse: not valid UTF-8";
                }
            }
        }
        return null;
    }
}
