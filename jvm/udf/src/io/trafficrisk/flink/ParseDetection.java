package io.trafficrisk.flink;

import java.util.HashSet;
import java.util.Set;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;

/**
 * Checks a detection event against the contract and parses it once, in the JVM, into the
 * fields the window statistics read.
 *
 * <p>The check is the contract's own JSON Schema (contract/schemas/detection-results.v1.json,
 * generated from contract/models.py and packaged in this jar), interpreted by
 * {@link ContractSchema}: no rule is restated here, and a differential test
 * (tests/integration/test_contract_differential.py) holds this function and the Python
 * contract to the same verdict on every generated case. A record that breaks the contract
 * gets a non-null {@code error} ("field.path: what") and an {@code error_code}
 * ({@code null_value}, {@code parse} or {@code contract}) and goes to the dead-letter topic.
 * {@code group_count} lets SQL send only frames with groups to the Python risk stage,
 * {@code fact_candidate} only frames that may yield a pattern fact to the Python fact stage,
 * as {@code fact_payload} (the event without its crops).
 */
public class ParseDetection extends ScalarFunction {

    private static final String OBJECT =
            "ROW<class_name STRING, track_id BIGINT, vx DOUBLE, vy DOUBLE, "
                    + "zones ARRAY<STRING>, crossed_lines ARRAY<STRING>, is_vehicle BOOLEAN>";
    static final String RESULT =
            "ROW<error STRING, error_code STRING, size_bytes INT, camera_id STRING, "
                    + "frame_id BIGINT, captured_at_ms BIGINT, vehicles INT, "
                    + "objects ARRAY<" + OBJECT + ">, group_count INT, fact_candidate BOOLEAN, "
                    + "fact_payload STRING>";

    /** Loaded once per class loader: the schema is immutable and shared by all subtasks. */
    private static final class Contract {
        static final ContractSchema SCHEMA = ContractSchema.resource("detection-results.v1.json");
        static final Set<String> VEHICLES = vehicleClasses(SCHEMA);
    }

    public @DataTypeHint(RESULT) Row eval(byte[] payload) {
        return check(payload);
    }

    private Row check(byte[] payload) {
        int size = payload == null ? 0 : payload.length;
        try {
            ContractJson.Checked checked = ContractJson.check(payload, Contract.SCHEMA);
            return checked.accepted()
                    ? fields(checked.doc(), size)
                    : failed(checked.error(), checked.code(), size);
        } catch (RuntimeException e) {
            // A defect here must not stop the job on one record: dead-letter it, named.
            return defect(e, size);
        }
    }

    /** The window and routing fields of a document the contract accepted. */
    private static Row fields(JsonNode doc, int sizeBytes) {
        JsonNode objects = doc.get("objects");
        Row[] rows = new Row[objects.size()];
        int vehicles = 0;
        boolean candidate = false;
        for (int i = 0; i < rows.length; i++) {
            JsonNode object = objects.get(i);
            String cls = object.get("class_name").asText();
            boolean vehicle = Contract.VEHICLES.contains(cls);
            vehicles += vehicle ? 1 : 0;
            rows[i] = objectRow(object, cls, vehicle);
            candidate = candidate || mayBeFact(object, vehicle);
        }
        JsonNode groups = doc.get("groups");
        int groupCount = groups != null ? groups.size() : 0;
        boolean factCandidate = candidate || groupCount > 0;
        return Row.of(
                null, null, sizeBytes, doc.get("camera_id").asText(),
                doc.get("frame_id").asLong(), doc.get("captured_at_ms").asLong(), vehicles,
                rows, groupCount, factCandidate, factCandidate ? withoutCrops(doc) : null);
    }

    /**
     * The event as the fact stage reads it: the same document without the groups' {@code crop}
     * (inline crops are most of a frame's bytes; a fact names its crop by
     * {@code crop_sha256}, which stays). The contract makes {@code crop} optional, so the
     * result is still a valid event. Called last, on the parsed document itself: nothing
     * reads it afterwards, so the crops are removed in place rather than from a copy.
     */
    private static String withoutCrops(JsonNode doc) {
        JsonNode groups = doc.get("groups");
        if (groups != null) {
            for (JsonNode group : groups) {
                ((ObjectNode) group).remove("crop");
            }
        }
        return doc.toString();
    }

    private static Row objectRow(JsonNode object, String cls, boolean vehicle) {
        JsonNode track = object.get("track_id");
        JsonNode velocity = object.get("velocity_px_s");
        boolean hasVelocity = velocity != null && velocity.isArray();
        return Row.of(
                cls,
                track != null && track.isIntegralNumber() ? track.asLong() : null,
                hasVelocity ? velocity.get(0).asDouble() : null,
                hasVelocity ? velocity.get(1).asDouble() : null,
                strings(object.get("zones")),
                strings(object.get("crossed_lines")),
                vehicle);
    }

    /**
     * Whether the pattern stage could derive a fact from this object: a line crossing, or a
     * tracked, moving vehicle (the contract's x-vehicle-classes) inside some zone (a lane:
     * wrong way). Frames with neither and
     * no groups skip the Python fact stage.
     */
    private static boolean mayBeFact(JsonNode object, boolean vehicle) {
        JsonNode crossed = object.get("crossed_lines");
        if (crossed != null && crossed.size() > 0) {
            return true;
        }
        JsonNode zones = object.get("zones");
        JsonNode velocity = object.get("velocity_px_s");
        JsonNode track = object.get("track_id");
        return vehicle
                && track != null && !track.isNull()
                && zones != null && zones.size() > 0
                && velocity != null && velocity.isArray();
    }

    private static Set<String> vehicleClasses(ContractSchema schema) {
        JsonNode classes = schema.document()
                .at("/$defs/DetectedObject/properties/class_name/x-vehicle-classes");
        if (!classes.isArray() || classes.isEmpty()) {
            throw new IllegalStateException("the schema names no x-vehicle-classes");
        }
        Set<String> out = new HashSet<>();
        classes.forEach(c -> out.add(c.asText()));
        return out;
    }

    private static String[] strings(JsonNode array) {
        if (array == null || !array.isArray()) {
            return new String[0];
        }
        String[] out = new String[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asText();
        }
        return out;
    }

    /** The dead-letter row for a defect of the check itself on one record. */
    static Row defect(RuntimeException e, int sizeBytes) {
        return failed("contract: the check failed on this record (" + e + ")", "contract",
                sizeBytes);
    }

    private static Row failed(String error, String code, int sizeBytes) {
        return Row.of(error, code, sizeBytes, null, null, null, null, null, null, null, null);
    }
}
