package io.trafficrisk.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

/**
 * SQL's {@code PARSE_SIGNAL}: checks a {@code signal-states} record (a traffic controller's
 * signal change) against the contract's schema (contract/schemas/signal-states.v1.json,
 * packaged in this jar) exactly as {@link ParseDetection} checks detections, one row out per
 * record in. A rejected record gets {@code error} and {@code error_code} and is dead-lettered;
 * an accepted one its camera, time and state.
 */
@FunctionHint(output = @DataTypeHint(ParseSignal.RESULT))
public class ParseSignal extends TableFunction<Row> {

    static final String RESULT = "ROW<error STRING, error_code STRING, size_bytes INT, "
            + "camera_id STRING, changed_at_ms BIGINT, state STRING>";

    /** Loaded once per class loader, like the detection schema. */
    private static final class Contract {
        static final ContractSchema SCHEMA = ContractSchema.resource("signal-states.v1.json");
    }

    public void eval(byte[] payload) {
        collect(check(payload));
    }

    /** The result row of one record; never throws. */
    Row check(byte[] payload) {
        int size = payload == null ? 0 : payload.length;
        try {
            ContractJson.Checked checked = ContractJson.check(payload, Contract.SCHEMA);
            if (!checked.accepted()) {
                return Row.of(checked.error(), checked.code(), size, null, null, null);
            }
            JsonNode doc = checked.doc();
            return Row.of(null, null, size, doc.get("camera_id").asText(),
                    doc.get("changed_at_ms").asLong(), doc.get("state").asText());
        } catch (RuntimeException e) {
            // A defect of the check must not stop the job on one record: dead-letter it.
            return Row.of("contract: the check failed on this record (" + e + ")", "contract",
                    size, null, null, null);
        }
    }
}
